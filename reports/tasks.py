"""Celery tasks of the read side: thin wrappers around reports.services."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from reports import services


@shared_task(name="reports.tasks.snapshots_daily")
def snapshots_daily() -> dict[str, int]:
    """Daily: every book's counts for the history, then any stock crossing."""
    written = services.snapshots_write()
    alerts = services.stock_alerts_check()
    return {"snapshots": written, "alerts": len(alerts)}


@shared_task(
    name="reports.tasks.stock_alert_send",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def stock_alert_send(alert_id: int) -> str:
    """Email one low-stock alert; a failure is recorded on the alert and retried."""
    return services.stock_alert_mail(alert_id=alert_id)
