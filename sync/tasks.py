"""Celery tasks for syncing and reconciling; thin: they take ids and call services."""

from __future__ import annotations

from celery import shared_task

from sync import services


@shared_task(name="sync.tasks.sync_token", acks_late=True)
def sync_token(run_id: int) -> str:
    """Run one queued sync."""
    return services.sync_run_execute(run_id=run_id).state


@shared_task(name="sync.tasks.sync_all_tokens")
def sync_all_tokens() -> dict[str, int]:
    """Twice a day: queue a sync of every usable token."""
    return services.sync_all_request()


@shared_task(name="sync.tasks.reap_stalled_syncs")
def reap_stalled_syncs() -> int:
    """Mark runs whose worker died as failed, so the next sync (and reconcile) can start."""
    from sync.reconcile.maintenance import reconcile_maintain

    return services.sync_runs_reap() + reconcile_maintain()


@shared_task(name="sync.tasks.reconcile_token", acks_late=True)
def reconcile_token(token_id: int, trigger: str = "sync") -> int | None:
    """Queue a reconcile run of a token (one active run per token: the database decides)."""
    from sync.reconcile.runs import reconcile_request
    from tokens.models import VppToken

    if not VppToken.objects.filter(pk=token_id).exists():
        return None
    return reconcile_request(token=token_id, trigger=trigger).run.pk


@shared_task(name="sync.tasks.reconcile_run", acks_late=True)
def reconcile_run(run_id: int) -> str | None:
    """One short step of a reconcile run; it queues the next step itself."""
    from sync.reconcile.push import reconcile_run_execute

    run = reconcile_run_execute(run_id=run_id)
    return run.state if run else None


@shared_task(name="sync.tasks.reconcile_follow_up", acks_late=True)
def reconcile_follow_up(token_id: int) -> int | None:
    """Check the token's due Apple events once; it schedules the next check itself."""
    from sync.reconcile.follow import events_follow_up
    from tokens.models import VppToken

    token = VppToken.objects.filter(pk=token_id).first()
    if token is None:
        return None
    return events_follow_up(token=token).pending


@shared_task(name="sync.tasks.notification_process", acks_late=True)
def notification_process(notification_id: int) -> str:
    """Apply one stored notification from Apple."""
    from sync.reconcile.notifications import notification_apply

    return notification_apply(notification_id=notification_id)
