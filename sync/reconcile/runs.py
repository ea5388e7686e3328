"""ReconcileRun's state machine: request (one active run per token, the database decides),
execute in short steps, finish, and reap runs whose worker died."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from sync.models import ReconcileRun, ReconcileState
from sync.reconcile import queue
from tokens.models import VppToken

logger = logging.getLogger(__name__)

State = ReconcileRun.State
Trigger = ReconcileRun.Trigger
ACTIVE = [State.QUEUED, State.RUNNING]
# Every step writes a heartbeat at least once per book; a step lasts at most TASK_BUDGET.
HEARTBEAT_STALE = timedelta(minutes=3)
# How long a step holds its run without a heartbeat; under HEARTBEAT_STALE, so the reaper's fresh
# run never waits on a dead step.
STEP_LEASE = timedelta(minutes=2)
# A queued run no worker picked up (lost message, workers down) stops blocking the next.
QUEUED_STALE = timedelta(minutes=10)


@dataclass(frozen=True)
class ReconcileRequest:
    run: ReconcileRun
    created: bool  # False: a run of this token was already queued or running


def reconcile_changed_mark(*, token_ids, at: datetime | None = None) -> None:
    """Something the plan reads changed for these tokens (assignments, members, counts, users)."""
    at = at or timezone.now()
    for token_id in sorted(set(token_ids)):
        state, created = ReconcileState.objects.get_or_create(
            token_id=token_id, defaults={"changed_at": at, "change_seq": 1}
        )
        if not created:
            ReconcileState.objects.filter(pk=state.pk).update(
                changed_at=at, change_seq=F("change_seq") + 1
            )


def reconcile_request(
    *, token: VppToken | int, trigger: str, user=None, enqueue: bool = True
) -> ReconcileRequest:
    """Queue a reconcile of a token unless one is queued or running (then it is told to re-run)."""
    token_id = token if isinstance(token, int) else token.pk
    reconcile_runs_reap(token_id=token_id)
    try:
        with transaction.atomic():
            run = ReconcileRun.objects.create(
                token_id=token_id,
                trigger=trigger,
                requested_by=user if getattr(user, "is_authenticated", False) else None,
            )
            if enqueue:
                queue.run_enqueue(run_id=run.pk)
    except IntegrityError:
        # A running run may have planned already: it queues one more run when it ends. A
        # queued one will see the change when it starts: count one, so that a request which
        # always plans (a follow-up, Reconcile now) is not lost in a run that would skip.
        reconcile_changed_mark(token_ids=[token_id])
        ReconcileRun.objects.filter(token_id=token_id, state=State.RUNNING).update(again=True)
        active = ReconcileRun.objects.filter(token_id=token_id, state__in=ACTIVE).first()
        if active is None:  # it ended between our insert and this read
            return reconcile_request(token=token_id, trigger=trigger, user=user, enqueue=enqueue)
        return ReconcileRequest(run=active, created=False)
    return ReconcileRequest(run=run, created=True)


def reconcile_run_take(*, run_id: int, now: datetime) -> ReconcileRun | None:
    """Hold a queued or running run for one step; None when it is not ours to work on.

    A running run another worker holds (the same task delivered twice) is refused: two steps of
    one run side by side would plan the same books and ask Apple twice."""
    held = ReconcileRun.objects.filter(pk=run_id, state__in=(State.QUEUED, State.RUNNING)).filter(
        Q(step_until__isnull=True) | Q(step_until__lt=now)
    )
    if not held.update(
        state=State.RUNNING,
        started_at=Coalesce("started_at", Value(now)),
        heartbeat_at=now,
        step_until=now + STEP_LEASE,
    ):
        return None
    return ReconcileRun.objects.select_related("token").get(pk=run_id)


def reconcile_run_beat(*, run: ReconcileRun, **values) -> bool:
    """Write progress and a heartbeat, which extends the step's hold; False when the reaper gave
    up on the run meanwhile."""
    now = timezone.now()
    return bool(
        ReconcileRun.objects.filter(pk=run.pk, state=State.RUNNING).update(
            **{"heartbeat_at": now, "step_until": now + STEP_LEASE, **values}
        )
    )


def reconcile_run_count(*, run_id: int | None, **deltas: int) -> None:
    """Add to a run's counters (follow-ups and notifications report outcomes after it ended)."""
    deltas = {name: F(name) + value for name, value in deltas.items() if value}
    if run_id is not None and deltas:
        ReconcileRun.objects.filter(pk=run_id).update(**deltas)


def reconcile_run_finish(
    *, run: ReconcileRun, state: str, message: str = "", apple_requests: int = 0
) -> ReconcileRun:
    """End the run; queue the next one when changes arrived while it worked."""
    now = timezone.now()
    values = {
        "state": state,
        "finished_at": now,
        "heartbeat_at": now,
        "error_message": message[:2000],
        "apple_requests": F("apple_requests") + apple_requests,
        "step_until": None,
    }
    if state == State.SUCCEEDED:
        values["phase"] = ReconcileRun.Phase.DONE
    ReconcileRun.objects.filter(pk=run.pk, state=State.RUNNING).update(**values)
    run = ReconcileRun.objects.select_related("token").get(pk=run.pk)
    if run.again:
        reconcile_request(token=run.token_id, trigger=run.trigger)
    return run


def reconcile_runs_reap(*, token_id: int | None = None, now: datetime | None = None) -> int:
    """Fail runs whose worker stopped heart-beating, or that no worker picked up, within minutes."""
    now = now or timezone.now()
    runs = ReconcileRun.objects.all()
    if token_id is not None:
        runs = runs.filter(token_id=token_id)
    stalled = runs.filter(state=State.RUNNING, heartbeat_at__lt=now - HEARTBEAT_STALE).update(
        state=State.FAILED,
        finished_at=now,
        error_message="The worker running this reconcile stopped responding (killed or "
        "restarted). The next run checks with Apple what reached it and finishes the job.",
    )
    never_started = runs.filter(state=State.QUEUED, queued_at__lt=now - QUEUED_STALE).update(
        state=State.FAILED,
        finished_at=now,
        error_message="No worker picked this reconcile up. Check that the Celery worker is "
        "running.",
    )
    return stalled + never_started
