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
