"""django-filter sets for the API's lists; each filter rides on an index of its table."""

from __future__ import annotations

import django_filters as filters

from assignments.models import AppleUser, GroupAssignment, License, Membership, Person, UserGroup
from ebooks.models import EBook
from sync.models import SyncRun
from tokens.models import VppToken


class TokenFilter(filters.FilterSet):
    class Meta:
        model = VppToken
        fields = ("state", "account_type")


class BookFilter(filters.FilterSet):
    gone = filters.BooleanFilter(field_name="gone_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = EBook
        fields = ("token", "adam_id", "pricing_param")


class AssignmentFilter(filters.FilterSet):
    class Meta:
        model = GroupAssignment
        fields = ("ebook", "group", "intent")


class PersonFilter(filters.FilterSet):
    class Meta:
        model = Person
        fields = ("email", "external_id", "active")


class GroupFilter(filters.FilterSet):
    class Meta:
        model = UserGroup
        fields = ("name", "external_id")


class MembershipFilter(filters.FilterSet):
    class Meta:
        model = Membership
        fields = ("group", "person")


class LicenseFilter(filters.FilterSet):
    adam_id = filters.CharFilter(field_name="ebook__adam_id")

    class Meta:
        model = License
        fields = ("token", "ebook", "person", "state", "kept")


class SyncRunFilter(filters.FilterSet):
    class Meta:
        model = SyncRun
        fields = ("token", "state")


class InvitationFilter(filters.FilterSet):
    class Meta:
        model = AppleUser
        fields = ("token", "status", "person")
