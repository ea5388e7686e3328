"""Celery tasks for syncing; thin: they take ids and call sync.services."""

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
    """Mark runs whose worker died as failed, so the next sync can start."""
    return services.sync_runs_reap()


@shared_task(name="sync.tasks.reconcile_token", acks_late=True)
def reconcile_token(token_id: int) -> dict:
    """Make Apple hold the licenses the token's group assignments ask for."""
    from dataclasses import asdict

    from sync.reconcile import reconcile_token as reconcile
    from tokens.models import VppToken

    token = VppToken.objects.filter(pk=token_id).first()
    if token is None:
        return {"skipped": "token deleted"}
    return asdict(reconcile(token=token))
