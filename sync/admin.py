"""Sync pages: read-only run history, a live run page, and "Sync now" for tokens."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from audit.services import Action, Outcome, audit_record
from config.admin_base import ReadOnlyAdminMixin
from sync.models import SyncRun
from sync.selectors import sync_run_progress
from sync.services import sync_request
from tokens.admin import VppTokenAdmin
from tokens.models import VppToken

TRIGGER_PERMISSION = "sync.trigger_sync"
STATE_COLOURS = {
    SyncRun.State.QUEUED: "#666",
    SyncRun.State.RUNNING: "#2b6cb0",
    SyncRun.State.SUCCEEDED: "#1e7e34",
    SyncRun.State.FAILED: "#ba2121",
    SyncRun.State.PARTIAL: "#b8860b",
}


def _report(request, token: VppToken, created: bool, run: SyncRun) -> None:
    outcome = Outcome.FAILED if created and run.state == SyncRun.State.FAILED else Outcome.OK
    audit_record(action=Action.SYNC_NOW, request=request, target=token, outcome=outcome)
    if created and run.state == SyncRun.State.FAILED:  # the broker refused the message
        messages.error(request, f"Sync of “{token}” could not start: {run.error_message}")
    elif created:
        messages.success(request, f"Sync of “{token}” queued.")
    else:
        messages.info(
            request,
            f"A sync of “{token}” is already {run.get_state_display().lower()}; "
            "it will pick up every change.",
        )


@admin.action(description="Sync now", permissions=["trigger_sync"])
def sync_now_action(modeladmin, request, queryset):
    """Bulk action on the token list (registered here: tokens imports nothing from sync)."""
    for token in queryset:
        result = sync_request(token=token, trigger=SyncRun.Trigger.MANUAL, user=request.user)
        _report(request, token, result.created, result.run)


def _has_trigger_permission(self, request) -> bool:
    return request.user.has_perm(TRIGGER_PERMISSION)


VppTokenAdmin.actions = [*VppTokenAdmin.actions, sync_now_action]
VppTokenAdmin.has_trigger_sync_permission = _has_trigger_permission


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "queued_at",
        "token",
        "trigger",
        "state_badge",
        "phase",
        "duration_display",
        "books_added",
        "books_updated",
        "books_gone",
        "licenses_seen",
        "users_seen",
        "apple_requests",
    )
    list_filter = ("state", "trigger", "token")
    list_select_related = ("token",)
    date_hierarchy = "queued_at"
    show_full_result_count = False
    change_form_template = "admin/sync/syncrun/change_form.html"
    readonly_fields = (
        "token",
        "trigger",
        "requested_by",
        "full",
        "state_badge",
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
        "users_version_id",
        "assignments_version_id",
        "queued_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )
    fields = readonly_fields

    @admin.display(description="state", ordering="state")
    def state_badge(self, run: SyncRun) -> str:
        return format_html(
            '<span class="portal-badge" style="background:{}">{}</span>',
            STATE_COLOURS.get(run.state, "#666"),
            run.get_state_display(),
        )

    @admin.display(description="duration")
    def duration_display(self, run: SyncRun) -> str:
        duration = run.duration
        if duration is None:
            return "—"
        seconds = int(duration.total_seconds())
        return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

    def get_urls(self):
        own = [
            path(
                "<int:pk>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="sync_syncrun_progress",
            ),
            path(
                "token/<int:token_pk>/sync-now/",
                self.admin_site.admin_view(require_POST(self.sync_now_view)),
                name="sync_token_sync_now",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(SyncRun, pk=object_id)
        context = {
            "progress": sync_run_progress(run=run),
            "progress_url": reverse("admin:sync_syncrun_progress", args=[run.pk]),
        }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )

    def progress_view(self, request, pk: int):
        """JSON polled by the run page's progress bar."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(SyncRun, pk=pk)
        return JsonResponse(sync_run_progress(run=run))

    def sync_now_view(self, request, token_pk: int):
        """The "Sync now" button on a token's page."""
        if not request.user.has_perm(TRIGGER_PERMISSION):
            raise PermissionDenied
        token = get_object_or_404(VppToken, pk=token_pk)
        result = sync_request(token=token, trigger=SyncRun.Trigger.MANUAL, user=request.user)
        _report(request, token, result.created, result.run)
        return HttpResponseRedirect(reverse("admin:sync_syncrun_change", args=[result.run.pk]))
