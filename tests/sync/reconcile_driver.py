"""Drive the reconciler in the foreground: run what it queues (steps, follow-ups) until quiet.

The queue is replaced by lists; a driven clock moves follow-ups to the time they are due, so
no test waits for Apple's events in real time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db.models import Sum

from sync.models import ReconcileRun
from sync.reconcile import queue
from sync.reconcile.foreground import Foreground
from sync.reconcile.runs import reconcile_request

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


@dataclass
class Driven:
    """What the runs a drive went through did, added up."""

    runs: list[ReconcileRun] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> int:
        if name in COUNTERS:
            return self.totals.get(name, 0)
        raise AttributeError(name)

    @property
    def last(self) -> ReconcileRun:
        return self.runs[-1]


class Driver(Foreground):
    """Foreground with a driven clock; `drive` requests a run and settles it."""

    def __init__(self) -> None:
        super().__init__(driven=True)

    def drive(self, token, *, trigger=ReconcileRun.Trigger.MANUAL, max_rounds=200) -> Driven:
        """Request a run and carry out everything it leads to."""
        first = ReconcileRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        reconcile_request(token=token, trigger=trigger)
        return self.settle(token, since_run=first, max_rounds=max_rounds)

    def settle(self, token, *, since_run: int = 0, max_rounds: int = 200) -> Driven:
        super().settle(token, max_rounds=max_rounds)
        runs = list(ReconcileRun.objects.filter(token=token, pk__gt=since_run).order_by("pk"))
        totals = ReconcileRun.objects.filter(pk__in=[r.pk for r in runs]).aggregate(
            **{name: Sum(name) for name in COUNTERS}
        )
        return Driven(runs=runs, totals={k: v or 0 for k, v in totals.items()})


@pytest.fixture
def reconciler(monkeypatch):
    """A Driver; the reconciler's queue feeds it instead of Celery."""
    driver = Driver()
    monkeypatch.setattr(queue, "run_enqueue", driver._run)
    monkeypatch.setattr(queue, "follow_up_enqueue", driver._follow_up)
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda *args: None)
    return driver
