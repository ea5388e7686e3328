"""Sync and reconcile pages: read-only run histories with live progress, "Sync now" and
"Reconcile now" for tokens, and the token's notification status."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from audit.services import Action, Outcome, audit_record
from config.admin_base import ReadOnlyAdminMixin, badge
from sync.models import ReconcileRun, Run, SyncRun
from sync.reconcile.runs import reconcile_request
from sync.selectors import notifications_status_line, reconcile_run_progress, sync_run_progress
from sync.services import sync_request
from tokens.hooks import token_action_register, token_detail_register, token_upload_hook_register
from tokens.models import VppToken

TRIGGER_PERMISSION = "sync.trigger_sync"


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


def sync_now_action(modeladmin, request, queryset):
    """Bulk action on the token list (offered through tokens.hooks: tokens imports no sync)."""
    for token in queryset:
        result = sync_request(token=token, trigger=SyncRun.Trigger.MANUAL, user=request.user)
        _report(request, token, result.created, result.run)


def first_sync_on_upload(*, request, token: VppToken) -> str | None:
    """A new token's books appear without anyone pressing Sync now."""
    if token.is_claimed_elsewhere:
        return None  # nothing to read as ours until an admin takes control
    result = sync_request(token=token, trigger=SyncRun.Trigger.MANUAL, user=request.user)
    url = reverse("admin:sync_syncrun_change", args=[result.run.pk])
    return format_html(
        "Its first sync is queued: books and license counts appear in a minute or two "
        '(<a href="{}">follow the sync</a>).',
        url,
    )


token_action_register(action=sync_now_action, description="Sync now", permission=TRIGGER_PERMISSION)
token_upload_hook_register(hook=first_sync_on_upload)


class RunAdminMixin:
    """A run's state badge, duration, and page whose progress bar polls `<pk>/progress/` (JSON
    from `progress_read`): shared by sync runs and reconcile runs."""

    progress_read: Callable[..., dict]

    @admin.display(description="state", ordering="state")
    def state_badge(self, run: Run) -> str:
        return badge(label=run.get_state_display(), tone=Run.STATE_TONES[run.state])

    @admin.display(description="duration")
    def duration_display(self, run: Run) -> str:
        duration = run.duration
        if duration is None:
            return "—"
        seconds = int(duration.total_seconds())
        return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

    def _progress_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_progress"

    def progress_path(self):
        return path(
            "<int:pk>/progress/",
            self.admin_site.admin_view(self.progress_view),
            name=self._progress_url_name(),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(self.model, pk=object_id)
        context = {
            "progress": self.progress_read(run=run),
            "progress_url": reverse(f"admin:{self._progress_url_name()}", args=[run.pk]),
        }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )

    def progress_view(self, request, pk: int):
        """JSON polled by the run page's progress bar."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(self.progress_read(run=get_object_or_404(self.model, pk=pk)))


@admin.register(SyncRun)
class SyncRunAdmin(RunAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Fits 1,280 px beside the filter; the per-counter detail is on the run's page.
    list_display = (
        "queued_at",
        "token",
        "trigger",
        "state_badge",
        "duration_display",
        "books_changed",
        "seen",
    )
    list_filter = ("state", "trigger", "token")
    list_select_related = ("token",)
    date_hierarchy = "queued_at"
    show_full_result_count = False
    change_form_template = "admin/sync/syncrun/change_form.html"
    progress_read = staticmethod(sync_run_progress)
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

    @admin.display(description="books")
    def books_changed(self, run: SyncRun) -> str:
        return f"{run.books_added} added, {run.books_updated} updated, {run.books_gone} gone"

    @admin.display(description="seen at Apple")
    def seen(self, run: SyncRun) -> str:
        return f"{run.licenses_seen} licenses, {run.users_seen} users"

    def get_urls(self):
        own = [
            self.progress_path(),
            path(
                "token/<int:token_pk>/sync-now/",
                self.admin_site.admin_view(require_POST(self.sync_now_view)),
                name="sync_token_sync_now",
            ),
        ]
        return own + super().get_urls()

    def sync_now_view(self, request, token_pk: int):
        """The "Sync now" button on a token's page."""
        if not request.user.has_perm(TRIGGER_PERMISSION):
            raise PermissionDenied
        token = get_object_or_404(VppToken, pk=token_pk)
        result = sync_request(token=token, trigger=SyncRun.Trigger.MANUAL, user=request.user)
        _report(request, token, result.created, result.run)
        return HttpResponseRedirect(reverse("admin:sync_syncrun_change", args=[result.run.pk]))


# --- reconcile runs -------------------------------------------------------------------------

RECONCILE_PERMISSION = "sync.trigger_reconcile"


def _report_reconcile(request, token: VppToken, created: bool, run: ReconcileRun) -> None:
    audit_record(action=Action.RECONCILE_NOW, request=request, target=token)
    if created:
        messages.success(request, f"Reconcile of “{token}” queued.")
    else:
        messages.info(
            request,
            f"A reconcile of “{token}” is already {run.get_state_display().lower()}; "
            "another follows it to pick up every change.",
        )


def reconcile_now_action(modeladmin, request, queryset):
    """Bulk action on the token list."""
    for token in queryset:
        result = reconcile_request(
            token=token, trigger=ReconcileRun.Trigger.MANUAL, user=request.user
        )
        _report_reconcile(request, token, result.created, result.run)


def _notifications_line(token: VppToken) -> str:
    return notifications_status_line(token=token)


token_action_register(
    action=reconcile_now_action,
    description="Reconcile now",
    permission=RECONCILE_PERMISSION,
)
token_detail_register(label="Apple notifications", render=_notifications_line)


@admin.register(ReconcileRun)
class ReconcileRunAdmin(RunAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "queued_at",
        "token",
        "trigger",
        "state_badge",
        "phase",
        "duration_display",
        "people_targeted",
        "users_registered",
        "invitations_sent",
        "licenses_requested",
        "licenses_assigned",
        "licenses_failed",
        "shortfall",
    )
    list_filter = ("state", "trigger", "token")
    list_select_related = ("token",)
    date_hierarchy = "queued_at"
    show_full_result_count = False
    change_form_template = "admin/sync/reconcilerun/change_form.html"
    progress_read = staticmethod(reconcile_run_progress)
    readonly_fields = (
        "token",
        "trigger",
        "requested_by",
        "state_badge",
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
        "write_requests",
        "apple_requests",
        "error_message",
        "queued_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )
    fields = readonly_fields

    def get_urls(self):
        own = [
            self.progress_path(),
            path(
                "token/<int:token_pk>/reconcile-now/",
                self.admin_site.admin_view(require_POST(self.reconcile_now_view)),
                name="sync_token_reconcile_now",
            ),
        ]
        return own + super().get_urls()

    def reconcile_now_view(self, request, token_pk: int):
        """The "Reconcile now" button on a token's page."""
        if not request.user.has_perm(RECONCILE_PERMISSION):
            raise PermissionDenied
        token = get_object_or_404(VppToken, pk=token_pk)
        result = reconcile_request(
            token=token, trigger=ReconcileRun.Trigger.MANUAL, user=request.user
        )
        _report_reconcile(request, token, result.created, result.run)
        return HttpResponseRedirect(reverse("admin:sync_reconcilerun_change", args=[result.run.pk]))
