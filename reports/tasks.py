"""Celery tasks of the read side: thin wrappers around reports.services."""

from __future__ import annotations

from celery import shared_task

from reports import services


@shared_task(name="reports.tasks.snapshots_daily")
def snapshots_daily() -> dict[str, int]:
    """Daily: every book's counts for the history, then any stock crossing."""
    written = services.snapshots_write()
    alerts = services.stock_alerts_check()
    return {"snapshots": written, "alerts": len(alerts)}


@shared_task(name="reports.tasks.after_sync_record")
def after_sync_record(token_id: int) -> None:
    """After a sync committed: the token's snapshot for today and its stock crossings.

    Idempotent (the snapshot is an upsert, an alert is raised once per crossing), so a task
    delivered twice or one the daily beat overtakes does no harm.
    """
    services.after_sync_record(token_id=token_id)
