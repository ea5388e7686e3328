"""The reconciler in one process: run the steps and follow-ups it would queue, here, until
nothing is left (`vpp_reconcile`, benchmarks, tests). Workers never use this."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import queue
from sync.reconcile.follow import events_follow_up
from sync.reconcile.push import reconcile_run_execute
from tokens.models import VppToken


class Foreground:
    """Collects what the reconciler queues; `settle` carries it out.

    With `driven=True` the clock jumps to the next event check instead of waiting for it.
    """

    def __init__(self, *, driven: bool = False, sleep: Callable[[float], None] = time.sleep):
        self.driven = driven
        self.sleep = sleep
        self.run_ids: list[int] = []
        self.follow_ups: list[int] = []
        self.now = timezone.now()
        self.task_seconds: list[float] = []  # how long each step or follow-up held the process

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
            events_follow_up(token=token, now=self.now, schedule=False)
            self.task_seconds.append(time.perf_counter() - started)

    def _wait_until(self, due: datetime) -> datetime:
        if self.driven:
            return max(self.now, due) + timedelta(milliseconds=1)
        wait = (due - timezone.now()).total_seconds()
        if wait > 0:
            self.sleep(min(wait, 5.0))
        return timezone.now()
