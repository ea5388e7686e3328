"""JSON shapes of the resources (snake_case; after Graph's iosVppEBook/vppToken and Jamf)."""

from __future__ import annotations

from rest_framework import serializers

from assignments.models import AppleUser, GroupAssignment, License, Membership, Person, UserGroup
from ebooks.models import EBook
from sync.models import ReconcileRun, SyncRun
from tokens.models import VppToken


class LicenseSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    assigned = serializers.IntegerField()
    available = serializers.IntegerField()
    retired = serializers.IntegerField()


class TokenSerializer(serializers.ModelSerializer):
    days_left = serializers.IntegerField(read_only=True)
    license_summary = serializers.SerializerMethodField()

    class Meta:
        model = VppToken
        # Never the token file, its ciphertext or fingerprint.
        fields = (
            "id",
            "name",
            "org_name",
            "location_name",
            "apple_id",
            "account_type",
            "country_code",
            "state",
            "state_reason",
            "expires_at",
            "days_left",
            "renewed_at",
            "last_sync_at",
            "last_sync_ok",
            "last_sync_summary",
            "book_count",
            "license_summary",
        )

    def get_license_summary(self, token) -> LicenseSummarySerializer:
        return {
            "total": token.total_licenses or 0,
            "assigned": token.assigned_licenses or 0,
            "available": token.available_licenses or 0,
            "retired": token.retired_licenses or 0,
        }


class TokenRenewSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The renewed .vpptoken file downloaded from Apple.")


class InstallSummarySerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    queued = serializers.IntegerField()
    installing = serializers.IntegerField()
    installed = serializers.IntegerField()
    failed = serializers.IntegerField()
    uninstalled = serializers.IntegerField()
    no_books_app = serializers.IntegerField()


class ForecastSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="People targeted but not yet licensed.")
    per_day = serializers.FloatField(help_text="Licenses assigned per day lately.")
    runs_out_on = serializers.DateField(allow_null=True)
    to_buy = serializers.IntegerField()
    sentence = serializers.CharField()


class BookSerializer(serializers.ModelSerializer):
    token = serializers.PrimaryKeyRelatedField(read_only=True)
    install_summary = serializers.SerializerMethodField()
    forecast = serializers.SerializerMethodField(
        help_text="When the licenses run out at the recent rate (the dashboards' forecast)."
    )

    class Meta:
        model = EBook
        fields = (
            "id",
            "token",
            "adam_id",
            "pricing_param",
            "title",
            "author",
            "genres",
            "artwork_url",
            "total_count",
            "assigned_count",
            "available_count",
            "retired_count",
            "unlimited",
            "counts_as_of",
            "last_synced_at",
            "gone_at",
            "install_summary",
            "forecast",
        )

    def get_install_summary(self, book) -> InstallSummarySerializer:
        summaries = self.context.get("install_summaries") or {}
        return summaries.get(book.pk) or dict.fromkeys(INSTALL_SUMMARY_STATES, 0)

    def get_forecast(self, book) -> ForecastSerializer(allow_null=True):
        forecast = (self.context.get("forecasts") or {}).get(book.pk)
        if forecast is None:
            return None
        return {
            "available": forecast.available,
            "waiting": forecast.waiting,
            "per_day": round(forecast.per_day, 2),
            "runs_out_on": forecast.runs_out_on,
            "to_buy": forecast.to_buy,
            "sentence": forecast.sentence,
        }


INSTALL_SUMMARY_STATES = tuple(InstallSummarySerializer().fields)


class GroupAssignmentSerializer(serializers.ModelSerializer):
    excluded_groups = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = GroupAssignment
        fields = ("id", "ebook", "group", "intent", "excluded_groups", "cap", "created_at")
        read_only_fields = fields


class AssignmentUpdateSerializer(serializers.Serializer):
    intent = serializers.ChoiceField(choices=GroupAssignment.Intent.choices, required=False)
    cap = serializers.IntegerField(
        min_value=1, max_value=10_000_000, allow_null=True, required=False
    )
    confirm_irrevocable = serializers.BooleanField(
        required=False, help_text="Needed (true) when the intent or cap changes."
    )
    expected_licenses = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="Needed when the intent or cap changes: `will_consume` of the preview.",
    )


class AssignmentPreviewRequestSerializer(serializers.Serializer):
    ebook = serializers.PrimaryKeyRelatedField(queryset=EBook.objects.all())
    groups = serializers.PrimaryKeyRelatedField(
        queryset=UserGroup.objects.all(), many=True, allow_empty=False
    )
    excluded_groups = serializers.PrimaryKeyRelatedField(
        queryset=UserGroup.objects.all(), many=True, required=False, default=list
    )
    cap = serializers.IntegerField(
        min_value=1, max_value=10_000_000, required=False, allow_null=True, default=None
    )

    def validate(self, attrs):
        if len(attrs["groups"]) > 200 or len(attrs["excluded_groups"]) > 200:
            raise serializers.ValidationError("At most 200 groups and 200 excluded groups.")
        return attrs


class AssignmentCreateSerializer(AssignmentPreviewRequestSerializer):
    intent = serializers.ChoiceField(choices=GroupAssignment.Intent.choices)
    confirm_irrevocable = serializers.BooleanField(
        help_text="Must be true: book licenses, once assigned, can never be taken back."
    )
    expected_licenses = serializers.IntegerField(
        min_value=0,
        help_text="`will_consume` from the preview; refused if the number changed since.",
    )


class AssignmentPreviewSerializer(serializers.Serializer):
    targeted = serializers.IntegerField()
    already_held = serializers.IntegerField()
    available = serializers.IntegerField(allow_null=True)
    pending_elsewhere = serializers.IntegerField()
    will_consume = serializers.IntegerField()
    beyond_cap = serializers.IntegerField()
    short_of_licenses = serializers.IntegerField()
    need_invitation = serializers.IntegerField()
    cap = serializers.IntegerField(allow_null=True)
    lines = serializers.ListField(child=serializers.CharField())


class AssignmentCreatedSerializer(serializers.Serializer):
    assignments = GroupAssignmentSerializer(many=True)
    preview = AssignmentPreviewSerializer()


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Person
        fields = (
            "id",
            "email",
            "display_name",
            "external_id",
            "managed_apple_id",
            "active",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class PersonUpsertItemSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    managed_apple_id = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class LicenseConfirmationSerializer(serializers.Serializer):
    """Directory changes that hand out licenses are refused (409) until confirmed for the count."""

    confirm_irrevocable = serializers.BooleanField(
        required=False, help_text="True once you accept that licenses given are never taken back."
    )
    expected_licenses = serializers.IntegerField(
        required=False, min_value=0, help_text="The count the 409 answer named."
    )


class PeopleUpsertSerializer(LicenseConfirmationSerializer):
    people = PersonUpsertItemSerializer(many=True, allow_empty=False, max_length=1000)


class UpsertResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserGroup
        fields = ("id", "name", "description", "external_id", "created_at")
        read_only_fields = fields


class GroupUpsertItemSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class GroupsUpsertSerializer(serializers.Serializer):
    groups = GroupUpsertItemSerializer(many=True, allow_empty=False, max_length=1000)


class MembershipSerializer(serializers.ModelSerializer):
    class Meta:
        model = Membership
        fields = ("id", "group", "person", "added_at")
        read_only_fields = fields


class MembershipsChangeSerializer(LicenseConfirmationSerializer):
    group_external_id = serializers.CharField(max_length=200)
    add = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        max_length=5000,
        help_text="External ids of people to add.",
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        max_length=5000,
        help_text="External ids of people to remove (they keep the licenses they were given).",
    )


class MembershipsChangedSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()


class LicenseSerializer(serializers.ModelSerializer):
    adam_id = serializers.CharField(source="ebook.adam_id", read_only=True)

    class Meta:
        model = License
        fields = (
            "id",
            "token",
            "ebook",
            "adam_id",
            "person",
            "state",
            "kept",
            "error_number",
            "error_message",
            "assigned_at",
            "updated_at",
        )
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = (
            "id",
            "token",
            "trigger",
            "full",
            "state",
            "phase",
            "progress_done",
            "progress_total",
            "books_added",
            "books_updated",
            "books_gone",
            "licenses_seen",
            "users_seen",
            "foreign_users_ignored",
            "foreign_licenses_ignored",
            "apple_requests",
            "error_number",
            "error_message",
            "queued_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


class ReconcileRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReconcileRun
        fields = (
            "id",
            "token",
            "trigger",
            "state",
            "phase",
            "progress_done",
            "progress_total",
            "people_targeted",
            "users_registered",
            "invitations_sent",
            "licenses_requested",
            "licenses_assigned",
            "licenses_failed",
            "shortfall",
            "books_failed",
            "apple_requests",
            "error_message",
            "queued_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = AppleUser
        # Never the invite code: it is the secret in the invitation link.
        fields = (
            "id",
            "token",
            "person",
            "email",
            "status",
            "managed",
            "invitation_sent_at",
            "error",
            "updated_at",
        )
        read_only_fields = fields


class InvitationResentSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
