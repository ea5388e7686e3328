"""Reads for sync and reconcile runs and Apple's notifications."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from sync.models import NotificationEndpoint, ReconcileRun, Run, SyncRun
from tokens.models import VppToken


def sync_run_progress(*, run: SyncRun) -> dict:
    """What the run page's progress bar shows, as JSON-ready values."""
    return _run_progress(
        run,
        {
            "books added": run.books_added,
            "books updated": run.books_updated,
            "books gone": run.books_gone,
            "licenses seen": run.licenses_seen,
            "users seen": run.users_seen,
            "users of other products ignored": run.foreign_users_ignored,
            "licenses of other products ignored": run.foreign_licenses_ignored,
            "Apple requests": run.apple_requests,
        },
    )


def reconcile_run_progress(*, run: ReconcileRun) -> dict:
    """What a reconcile run's page shows live (same shape as a sync run's)."""
    return _run_progress(
        run,
        {
            "people targeted": run.people_targeted,
            "users registered": run.users_registered,
            "invitations sent": run.invitations_sent,
            "licenses requested": run.licenses_requested,
            "licenses assigned": run.licenses_assigned,
            "licenses failed": run.licenses_failed,
            "shortfall": run.shortfall,
            "books that failed": run.books_failed,
            "Apple write requests": run.write_requests,
            "Apple requests": run.apple_requests,
        },
    )


def _run_progress(run: Run, counters: dict[str, int]) -> dict:
    """State, phase and progress common to every kind of run, with the kind's own counters."""
    percent = None
    if run.progress_total:
        percent = min(100, round(100 * run.progress_done / run.progress_total))
    if run.state == Run.State.SUCCEEDED:
        percent = 100
    return {
        "state": run.state,
        "state_label": run.get_state_display(),
        "phase": run.phase,
        "phase_label": run.get_phase_display(),
        "done": run.progress_done,
        "total": run.progress_total,
        "percent": percent,
        "active": run.is_active,
        "counters": counters,
        "error": run.error_message,
    }


def notifications_status_line(*, token: VppToken) -> str:
    """Whether Apple's notifications reach the portal for the token, in one line."""
    endpoint = NotificationEndpoint.objects.filter(token=token).first()
    if not settings.PUBLIC_URL:
        return (
            "Off: the portal's public URL (PUBLIC_URL) is not set, so Apple cannot reach it. "
            "Licenses still go out; outcomes are learnt by polling and the twice-daily sync."
        )
    if endpoint is None or endpoint.registered_at is None:
        reason = endpoint.error if endpoint and endpoint.error else "not registered yet"
        return f"Off: {reason}. The next reconcile registers them."
    verified = (
        f"verified {timezone.localtime(endpoint.verified_at):%Y-%m-%d %H:%M}"
        if endpoint.verified_at
        else "not verified yet (Apple's test notification has not arrived)"
    )
    last = (
        f"last received {timezone.localtime(endpoint.last_received_at):%Y-%m-%d %H:%M}"
        if endpoint.last_received_at
        else "none received yet"
    )
    return f"On ({endpoint.url}); {verified}; {last}."
