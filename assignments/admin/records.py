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
from ebooks.models import EBook
from tokens.models import VppToken


class BookFilter(admin.SimpleListFilter):
    """One book's licenses, picked from a book's "holders" link or by title search.

    It lists only the chosen book, never the whole catalogue (2,000 books would be a sidebar
    nobody can use).
    """

    title = "book"
    parameter_name = "ebook__id__exact"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value or not value.isdigit():
            return ()
        book = EBook.objects.filter(pk=int(value)).only("title", "adam_id", "pricing_param")
        return [(value, str(book[0]))] if book else ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(ebook_id=int(value))
        return queryset


# --- Apple's view: read-only ----------------------------------------------------------------


@admin.register(AppleUser)
class AppleUserAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "email",
        "person",
        "token",
        "status",
        # "managed" is a filter and part of the invitation column: no column of its own (1,280 px).
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
    list_filter = (BookFilter, "token", "state", "kept")
    search_fields = ("person__email",)
    search_help_text = "Person's email or book title (beginning)."
    raw_id_fields = ("person", "apple_user", "ebook")
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        people = Person.objects.filter(prefix_q("email", term)).values("pk")
        # Titles are few (2,000 at most): their ids go in as a list the license index can use.
        titles = {
            term,
            search_term.strip(),
            search_term.strip()[:1].upper() + search_term.strip()[1:],
        }
        books = [
            pk
            for title in titles
            for pk in EBook.objects.filter(prefix_q("title", title)).values_list("pk", flat=True)[
                :200
            ]
        ]
        return queryset.filter(Q(person__in=people) | Q(ebook_id__in=books)), False

    @admin.display(description="problem")
    def problem(self, licence: License) -> str:
        return license_error(licence) or "—"
