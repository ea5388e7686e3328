"""The audit log page: portal admins read and filter it; nobody adds, changes or deletes."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEntry
from config.admin_base import ReadOnlyAdminMixin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "outcome", "target_repr", "ip_address")
    # A date filter, not date_hierarchy: that one reads every row's date to draw its links.
    list_filter = ("action", "outcome", ("at", admin.DateFieldListFilter))
    search_fields = ("=actor_name", "=ip_address")
    search_help_text = "Exact user name or IP address."
    show_full_result_count = False
    list_per_page = 100
    fields = (
        "at",
        "actor_name",
        "actor",
        "action",
        "outcome",
        "target_type",
        "target_id",
        "target_repr",
        "ip_address",
        "detail",
    )
    readonly_fields = fields

    def get_actions(self, request):
        return {}  # not even "delete selected"
