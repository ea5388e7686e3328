"""Beat's few-minutely care: free runs whose worker died, revive follow-ups lost with theirs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from sync.models import AppleEvent, ReconcileRun
from sync.reconcile.follow import follow_up_schedule
from sync.reconcile.notifications import notifications_apply_pending
from sync.reconcile.runs import reconcile_request, reconcile_runs_reap


def reconcile_maintain(*, now: datetime | None = None) -> int:
    """Reap dead runs (queueing a fresh one for their token) and re-queue overdue follow-ups."""
    now = now or timezone.now()
    reaped_tokens = set(
        ReconcileRun.objects.filter(
            state=ReconcileRun.State.RUNNING,
            heartbeat_at__lt=now - timedelta(minutes=3),
        ).values_list("token_id", flat=True)
    )
    reaped = reconcile_runs_reap(now=now)
    for token_id in sorted(reaped_tokens):
        # The dead run's work is not lost: the next one checks with Apple and carries on.
        reconcile_request(token=token_id, trigger=ReconcileRun.Trigger.SCHEDULE)
    overdue = (
        AppleEvent.objects.filter(state=AppleEvent.State.PENDING, next_check_at__lte=now)
        .values("token_id")
        .annotate(due=Min("next_check_at"))
    )
    for row in overdue:
        follow_up_schedule(token_id=row["token_id"], at=now, now=now)
    # Notifications whose task was lost (worker killed, broker restarted).
    notifications_apply_pending(before=now - timedelta(minutes=1))
    return reaped
