"""Tasks that prove the worker and beat are alive; /healthz reads their answers."""

from __future__ import annotations

from celery import shared_task

from config import health


@shared_task(name="config.tasks.ping", ignore_result=False)
def ping() -> str:
    """Answer the health check's round trip."""
    return health.PONG


@shared_task(name="config.tasks.beat_heartbeat")
def beat_heartbeat() -> None:
    """Record that beat sent a task and a worker ran it."""
    health.beat_heartbeat_record()
