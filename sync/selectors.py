"""Reads for sync runs."""

from __future__ import annotations

from sync.models import SyncRun


def sync_run_progress(*, run: SyncRun) -> dict:
    """What the run page's progress bar shows, as JSON-ready values."""
    percent = None
    if run.progress_total:
        percent = min(100, round(100 * run.progress_done / run.progress_total))
    if run.state == SyncRun.State.SUCCEEDED:
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
        "counters": {
            "books added": run.books_added,
            "books updated": run.books_updated,
            "books gone": run.books_gone,
            "licenses seen": run.licenses_seen,
            "users seen": run.users_seen,
            "users of other products ignored": run.foreign_users_ignored,
            "licenses of other products ignored": run.foreign_licenses_ignored,
            "Apple requests": run.apple_requests,
        },
        "error": run.error_message,
    }
