"""Admin pages of the read side: thresholds (portal admins), alert history, install requests."""

from __future__ import annotations

from django.contrib import admin

from assignments.admin.common import BoundedCountPaginator
from assignments.models import InstallRequest
from config.admin_base import ReadOnlyAdminMixin
from reports.models import StockAlert, StockThreshold


@admin.register(StockThreshold)
class StockThresholdAdmin(admin.ModelAdmin):
    list_display = ("ebook", "low_below")
    list_select_related = ("ebook",)
    autocomplete_fields = ("ebook",)
    search_fields = ("ebook__title",)
    show_full_result_count = False


@admin.register(StockAlert)
class StockAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "ebook",
        "kind",
        "available",
        "waiting",
        "raised_at",
        "cleared_at",
        "mail_state",
    )
    list_select_related = ("ebook",)
    list_filter = ("kind", "mail_state")
    raw_id_fields = ("ebook",)
    show_full_result_count = False


class InstallRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Install monitoring, read-only: the dashboard's install failures link here."""

    list_display = ("ebook", "device", "person", "state", "updated_at")
    list_select_related = ("ebook", "device", "person")
    list_filter = ("state",)
    raw_id_fields = ("ebook", "device", "person")
    search_fields = ("=device__serial_number",)
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The book page links to its install failures this way.
        return lookup == "ebook__id__exact" or super().lookup_allowed(lookup, value, request)


if not admin.site.is_registered(InstallRequest):
    admin.site.register(InstallRequest, InstallRequestAdmin)
