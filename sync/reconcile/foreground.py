"""The reconciler in one process: run the steps and follow-ups it would queue, here, until
nothing is left (`vpp_reconcile`, benchmarks, tests). Workers never use this."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import queue
from sync.reconcile.follow import events_follow_up
from sync.reconcile.push import reconcile_run_execute
from sync.reconcile.runs import reconcile_request
from tokens.models import VppToken


class Foreground:
    """Collects what the reconciler queues; `settle` carries it out.

    With `driven=True` the clock jumps to the next event check instead of waiting for it.
    """

    def __init__(
        self, *, driven: bool = False, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.driven = driven
        self.sleep = sleep
        self.run_ids: list[int] = []
        self.follow_ups: list[int] = []
        self.now = timezone.now()
        self.task_seconds: list[float] = []  # how long each step or follow-up held the process
        self.idle = 0

    @contextmanager
    def installed(self) -> Iterator[Foreground]:
        saved = queue.run_enqueue, queue.follow_up_enqueue
        queue.run_enqueue = self._run
        queue.follow_up_enqueue = self._follow_up
        try:
            yield self
        finally:
            queue.run_enqueue, queue.follow_up_enqueue = saved

    def _run(self, *, run_id: int, countdown: float = 0) -> None:
        self.run_ids.append(run_id)

    def _follow_up(self, *, token_id: int, countdown: float) -> None:
        self.follow_ups.append(token_id)

    def settle(
        self,
        token: VppToken,
        *,
        max_rounds: int = 10_000,
        deadline: float | None = None,
        on_step: Callable[[ReconcileRun | None], None] | None = None,
    ) -> None:
        """Run queued steps and follow up pending events until none is left (or time is up)."""
        for _ in range(max_rounds):
            if self.run_ids:
                started = time.perf_counter()
                run = reconcile_run_execute(run_id=self.run_ids.pop(0))
                self.task_seconds.append(time.perf_counter() - started)
                if on_step:
                    on_step(run)
                continue
            pending = AppleEvent.objects.filter(token=token, state=AppleEvent.State.PENDING)
            if not pending.exists():
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            self.follow_ups.clear()
            self.now = self._wait_until(pending.aggregate(due=Min("next_check_at"))["due"])
            started = time.perf_counter()
            result = events_follow_up(token=token, now=self.now, schedule=False)
            self.task_seconds.append(time.perf_counter() - started)
            if self.driven and not (result.finished or result.more or self.run_ids):
                # Apple is still at work: a driven clock does not make it finish sooner.
                self.sleep(min(0.05 * 2 ** min(self.idle, 6), 2.0))
                self.idle += 1
            else:
                self.idle = 0

    def _wait_until(self, due: datetime) -> datetime:
        if self.driven:
            return max(self.now, due) + timedelta(milliseconds=1)
        wait = (due - timezone.now()).total_seconds()
        if wait > 0:
            self.sleep(min(wait, 5.0))
        return timezone.now()


@dataclass
class ReconcileResult:
    """What a foreground reconcile did, added up over the runs it led to."""

    token_id: int
    error: str = ""
    people_targeted: int = 0
    users_registered: int = 0
    invitations_sent: int = 0
    licenses_requested: int = 0
    licenses_assigned: int = 0
    licenses_failed: int = 0
    shortfall: int = 0
    books_failed: int = 0
    write_requests: int = 0
    apple_requests: int = 0
    runs: list[int] = field(default_factory=list)


def reconcile_token(
    *, token: VppToken, trigger: str = ReconcileRun.Trigger.MANUAL, wait: float = 300.0
) -> ReconcileResult:
    """Reconcile a token now, in this process, following Apple's events to their end (at most
    `wait` seconds); for commands, benchmarks and tests. Workers use the queued steps."""
    foreground = Foreground(driven=True)
    first = ReconcileRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with foreground.installed():
        reconcile_request(token=token, trigger=trigger)
        foreground.settle(token, deadline=time.monotonic() + wait)
    runs = list(ReconcileRun.objects.filter(token=token, pk__gt=first).order_by("pk"))
    result = ReconcileResult(token_id=token.pk, runs=[r.pk for r in runs])
    for run in runs:
        for name in COUNTERS:
            setattr(result, name, getattr(result, name) + getattr(run, name))
    result.error = "\n".join(r.error_message for r in runs if r.error_message)
    return result


COUNTERS = (
    "people_targeted",
    "users_registered",
    "invitations_sent",
    "licenses_requested",
    "licenses_assigned",
    "licenses_failed",
    "shortfall",
    "books_failed",
    "write_requests",
    "apple_requests",
)
