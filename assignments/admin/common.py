"""Helpers shared by the directory and assignment pages: sized for 300,000 people."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

from apple.errors import error_for, plain_message
from assignments.models import (
    License,
)
from config.admin_base import ReadOnlyAdminMixin

# Above this many members a group's page lists none inline (it would be one huge form); the
# members are then browsed and removed from the Memberships list, filtered to the group.
INLINE_MEMBER_LIMIT = 100
IMPORT_PERMISSION = "assignments.import_directory"
NO_DEVICES_NOTE = (
    "There is no way to pick devices or device groups: Apple gives book licenses to people "
    "(their Apple Account), never to devices. Devices only matter for install status — a "
    "Required book installs on the devices of each licensed person, through the Books app."
)
KEPT_NOTE = (
    "Book licenses can never be taken back. Licenses already given stay with the people who have "
    "them (marked “kept”); nothing is revoked at Apple."
)


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_LIMIT rows: a huge table is searched or filtered, not paged through."""

    COUNT_LIMIT = 10_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if hasattr(rows, "values"):
            # Ids only: the page's sort and per-row columns (a license count each) would
            # otherwise be computed for all COUNT_LIMIT rows just to count them.
            rows = rows.order_by().values("pk")
        return rows[: self.COUNT_LIMIT].count()


def count_of(model, field: str) -> Coalesce:
    """A per-row COUNT as a correlated subquery: evaluated only for the rows on the page."""
    counted = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def prefix_q(field: str, term: str) -> Q:
    """Prefix match as an index range, so it stays fast on any database and collation."""
    return Q(
        **{f"{field}__gte": term, f"{field}__lt": term + "\uffff", f"{field}__startswith": term}
    )


def license_error(licence: License) -> str:
    """What went wrong with a license, in words an admin can act on."""
    if licence.error_number is None:
        return licence.error_message
    return plain_message(
        error_for(
            http_status=None, error_number=licence.error_number, message=licence.error_message
        )
    )


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields
