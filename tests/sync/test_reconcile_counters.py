"""Whether anything changed since the last plan is decided by counters (ReconcileState
change_seq / planned_seq), never by comparing wall-clock times written by transactions that
commit in another order than they started."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from assignments.models import GroupAssignment, License, Membership
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.models import ReconcileRun
from sync.reconcile.push import Push, reconcile_run_execute
from sync.reconcile.runs import reconcile_changed_mark, reconcile_request
from tests.factories import PersonFactory, UserGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)
Trigger = ReconcileRun.Trigger


def test_a_change_committed_after_a_plan_began_is_planned_by_the_next_run(
    reconciler, apple, vpp_token, sync_now, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("two transactions side by side on one row: PostgreSQL (CI) only")
    sync_now(vpp_token)
    book = EBook.objects.filter(token=vpp_token, unlimited=False, available_count__gte=5).first()
    group = UserGroupFactory(members=PersonFactory.create_batch(2, managed=True))
    group_assignment_create(
        ebook=book,
        groups=[group],
        intent=GroupAssignment.Intent.AVAILABLE,
        confirmed_irrevocable=True,
    )
    reconciler.drive(vpp_token)
    assert reconciler.drive(vpp_token, trigger=Trigger.SYNC).last.progress_total == 0

    plan_read = threading.Event()
    counted = threading.Event()
    read_changes = Push._changes_to_plan

    def plan_reads_the_counters(self):
        seen = read_changes(self)
        plan_read.set()
        return seen

    monkeypatch.setattr(Push, "_changes_to_plan", plan_reads_the_counters)
    failures: list[BaseException] = []
    newcomer = PersonFactory(managed=True)

    def change_in_a_long_transaction():
        try:
            with transaction.atomic():
                Membership.objects.create(group=group, person=newcomer)
                reconcile_changed_mark(token_ids=[vpp_token.pk])  # counted before the plan
                counted.set()
                assert plan_read.wait(30), "the plan never started"
                time.sleep(0.3)  # the plan goes on; it waits only for this row's lock
            # Committed now: after the plan began, and before it recorded what it planned.
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=change_in_a_long_transaction)
    thread.start()
    assert counted.wait(30)
    # One step of a run that always plans, started while the change is not committed yet.
    reconcile_request(token=vpp_token, trigger=Trigger.MANUAL)
    planned = reconcile_run_execute(run_id=reconciler.run_ids.pop(0))
    thread.join(30)
    assert not thread.is_alive() and failures == []
    assert planned.state == ReconcileRun.State.SUCCEEDED and planned.progress_total == 1

    monkeypatch.setattr(Push, "_changes_to_plan", read_changes)
    reconcile_request(token=vpp_token, trigger=Trigger.SYNC)
    following = reconcile_run_execute(run_id=reconciler.run_ids.pop(0))
    assert following.progress_total == 1  # the change made the next run plan
    reconciler.settle(vpp_token)
    assert License.objects.get(ebook=book, person=newcomer).state == License.State.ASSIGNED
