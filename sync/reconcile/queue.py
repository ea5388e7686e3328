"""How the reconciler hands work to Celery: always after the current transaction commits."""

from __future__ import annotations

from django.db import transaction


def run_enqueue(*, run_id: int, countdown: float = 0) -> None:
    """Queue a step of a reconcile run."""
    from sync.tasks import reconcile_run

    transaction.on_commit(lambda: reconcile_run.apply_async((run_id,), countdown=countdown))


def follow_up_enqueue(*, token_id: int, countdown: float) -> None:
    """Queue a follow-up of the token's pending Apple events."""
    from sync.tasks import reconcile_follow_up

    transaction.on_commit(
        lambda: reconcile_follow_up.apply_async((token_id,), countdown=max(countdown, 0))
    )


def notification_enqueue(*, notification_id: int) -> None:
    """Queue the processing of a stored notification."""
    from sync.tasks import notification_process

    transaction.on_commit(lambda: notification_process.delay(notification_id))
