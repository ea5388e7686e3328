"""django-filter sets for the API's lists; each filter rides on an index of its table.

Foreign keys filter by plain id: an unknown id gives an empty list, not an error.
"""

from __future__ import annotations

import django_filters as filters
from django import forms

from assignments.models import AppleUser, GroupAssignment, License, Membership, Person, UserGroup
from ebooks.models import EBook
from sync.models import ReconcileRun, SyncRun
from tokens.models import VppToken

MAX_ID = 2**63 - 1


class IdFilter(filters.NumberFilter):
    """A row id: a whole number the database can hold (a larger one is a 400, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class TokenFilter(filters.FilterSet):
    class Meta:
        model = VppToken
        fields = ("state", "account_type")


class BookFilter(filters.FilterSet):
    token = IdFilter(field_name="token_id")
    gone = filters.BooleanFilter(field_name="gone_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = EBook
        fields = ("adam_id", "pricing_param")


class AssignmentFilter(filters.FilterSet):
    ebook = IdFilter(field_name="ebook_id")
    group = IdFilter(field_name="group_id")

    class Meta:
        model = GroupAssignment
        fields = ("intent",)


class PersonFilter(filters.FilterSet):
    class Meta:
        model = Person
        fields = ("email", "external_id", "active")


class GroupFilter(filters.FilterSet):
    class Meta:
        model = UserGroup
        fields = ("name", "external_id")


class MembershipFilter(filters.FilterSet):
    group = IdFilter(field_name="group_id")
    person = IdFilter(field_name="person_id")

    class Meta:
        model = Membership
        fields = ()


class LicenseFilter(filters.FilterSet):
    token = IdFilter(field_name="token_id")
    ebook = IdFilter(field_name="ebook_id")
    person = IdFilter(field_name="person_id")
    adam_id = filters.CharFilter(field_name="ebook__adam_id")

    class Meta:
        model = License
        fields = ("state", "kept")


class SyncRunFilter(filters.FilterSet):
    token = IdFilter(field_name="token_id")

    class Meta:
        model = SyncRun
        fields = ("state",)


class ReconcileRunFilter(filters.FilterSet):
    token = IdFilter(field_name="token_id")

    class Meta:
        model = ReconcileRun
        fields = ("state",)


class InvitationFilter(filters.FilterSet):
    token = IdFilter(field_name="token_id")
    person = IdFilter(field_name="person_id")

    class Meta:
        model = AppleUser
        fields = ("status",)
