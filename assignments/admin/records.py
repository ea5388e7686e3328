"""Apple's view of our users and their licenses: read-only, written by the sync."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone

from assignments.admin.common import BoundedCountPaginator, license_error, prefix_q
from assignments.invitations import InvitationError, invitations_send
from assignments.models import (
    AppleUser,
    License,
    Person,
)
from config.admin_base import ReadOnlyAdminMixin
from tokens.models import VppToken

# --- Apple's view: read-only ----------------------------------------------------------------


@admin.register(AppleUser)
class AppleUserAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "email",
        "person",
        "token",
        "status",
        "managed",
        "invitation",
        "invitation_mail",
        "error",
    )
    # Whoever holds an invitation code receives that person's books: it goes to the person by
    # email and is shown to no one here, whatever their role.
    exclude = ("invite_code",)
    readonly_fields = ("invitation",)
    list_select_related = ("person", "token")
    list_filter = ("token", "status", "managed")
    search_fields = ("=client_user_id",)
    search_help_text = "Email (exact or beginning) or clientUserId (exact)."
    raw_id_fields = ("person",)
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100
    actions = ["resend_invitation"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # The unique index leads with the token; naming every token (a handful) lets it serve.
        tokens = list(VppToken.objects.values_list("pk", flat=True))
        query = Q(token__in=tokens, client_user_id=term) | prefix_q("email", term.lower())
        return queryset.filter(query), False

    @admin.display(description="invitation", ordering="invitation_sent_at")
    def invitation(self, user: AppleUser) -> str:
        if user.managed:
            return "not needed (Managed Apple Account)"
        sent = (
            f"sent {timezone.localtime(user.invitation_sent_at):%Y-%m-%d %H:%M}"
            if user.invitation_sent_at
            else "not sent"
        )
        accepted = user.status == AppleUser.Status.ASSOCIATED
        return f"{sent}; {'accepted' if accepted else 'not accepted yet'}"

    def has_invite_permission(self, request) -> bool:
        return request.user.has_perm("assignments.change_person")

    @admin.action(description="Send the invitation email again", permissions=["invite"])
    def resend_invitation(self, request, queryset):
        try:
            sent = invitations_send(users=queryset[:5000], resend=True)
        except InvitationError as error:
            self.message_user(request, f"No invitation sent: {error}", messages.ERROR)
            return
        skipped = queryset.count() - sent
        note = (
            f"; {skipped} skipped (already joined, no invitation yet, or no email)"
            if skipped
            else ""
        )
        self.message_user(request, f"{sent} invitation(s) sent{note}.", messages.SUCCESS)


@admin.register(License)
class LicenseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("ebook", "person", "token", "state", "kept", "problem", "assigned_at")
    list_select_related = ("ebook", "person", "token")
    list_filter = ("token", "state", "kept")
    search_fields = ("person__email",)
    search_help_text = "Person's email (exact or beginning)."
    raw_id_fields = ("person", "apple_user", "ebook")
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        people = Person.objects.filter(prefix_q("email", term)).values("pk")
        return queryset.filter(person__in=people), False

    @admin.display(description="problem")
    def problem(self, licence: License) -> str:
        return license_error(licence) or "—"
