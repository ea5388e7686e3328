"""Applying an association event's outcome is one transaction: all of it, or none of it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from assignments.models import License
from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import follow
from tests.factories import EBookFactory, LicenseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_outcome_cut_short_is_applied_whole_and_counted_once_next_time(monkeypatch):
    ebook = EBookFactory()
    token = ebook.token
    run = ReconcileRun.objects.create(token=token, trigger=ReconcileRun.Trigger.SYNC)
    now = timezone.now()
    event = AppleEvent.objects.create(
        token=token, run=run, event_id="ev-1", kind=AppleEvent.Kind.LICENSES, next_check_at=now
    )
    for _ in range(2):
        LicenseFactory(ebook=ebook, state=License.State.PENDING, event_id="ev-1")
    count = follow.reconcile_run_count

    def worker_dies(**kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(follow, "reconcile_run_count", worker_dies)
    with pytest.raises(SystemExit):
        follow.licenses_event_apply(
            token=token, event=event, failures=[], now=now, result=follow.FollowUp()
        )
    assert set(License.objects.values_list("state", flat=True)) == {License.State.PENDING}
    assert AppleEvent.objects.get(pk=event.pk).state == AppleEvent.State.PENDING

    monkeypatch.setattr(follow, "reconcile_run_count", count)
    result = follow.FollowUp()
    follow.licenses_event_apply(token=token, event=event, failures=[], now=now, result=result)
    assert result.licensed == 2 and result.finished == 1
    assert ReconcileRun.objects.get(pk=run.pk).licenses_assigned == 2
