"""The push through a real Celery worker: run steps, follow-ups with a countdown, the run that
licenses people once Apple registered them — nobody calls anything by hand."""

from __future__ import annotations

import time

import pytest

from assignments.models import GroupAssignment, License
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.models import AppleEvent, ReconcileRun
from tests.factories import PersonFactory, UserGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_assignment_is_licensed_by_the_worker_alone(apple, vpp_token, sync_now, live_worker):
    sync_now(vpp_token)
    book = EBook.objects.filter(token=vpp_token, unlimited=False, available_count__gte=5).first()
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(members=PersonFactory.create_batch(3, managed=True))],
        intent=GroupAssignment.Intent.REQUIRED,
        confirmed_irrevocable=True,
    )
    licenses = License.objects.filter(ebook=book, state=License.State.ASSIGNED)
    deadline = time.monotonic() + 60
    while licenses.count() < 3:
        assert time.monotonic() < deadline, list(ReconcileRun.objects.values("trigger", "state"))
        time.sleep(0.2)  # polling the worker's progress, with a deadline
    assert AppleEvent.objects.filter(kind=AppleEvent.Kind.USERS).exists()
    assert ReconcileRun.objects.filter(trigger=ReconcileRun.Trigger.FOLLOW_UP).exists()
