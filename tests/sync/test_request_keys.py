"""Request keys: licenses written with their request's key, found through its event, and rows
written before keys (Apple's event id, or none) still settled."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from assignments.models import License
from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import follow, outbox
from tests.factories import EBookFactory, LicenseFactory

pytestmark = pytest.mark.django_db
State = License.State


def _event(token, **fields) -> AppleEvent:
    return AppleEvent.objects.create(
        token=token, kind=AppleEvent.Kind.LICENSES, next_check_at=timezone.now(), **fields
    )


def test_an_outcome_reaches_licenses_by_key_and_older_ones_by_apples_id():
    ebook = EBookFactory()
    token = ebook.token
    run = ReconcileRun.objects.create(token=token, trigger=ReconcileRun.Trigger.SYNC)
    keyed = _event(token, run=run, event_id="apple-2", license_key="req:2")
    older = _event(token, run=run, event_id="apple-1")  # recorded before keys
    mine = LicenseFactory(ebook=ebook, state=State.PENDING, event_id="req:2")
    theirs = LicenseFactory(ebook=ebook, state=State.PENDING, event_id="apple-1")
    for event in (keyed, older):
        result = follow.FollowUp()
        follow.licenses_event_apply(
            token=token, event=event, failures=[], now=timezone.now(), result=result
        )
        assert result.licensed == 1
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert (mine.state, theirs.state) == (State.ASSIGNED, State.ASSIGNED)


def test_rows_stranded_before_keys_get_a_key_and_an_unanswered_request():
    migration = importlib.import_module("sync.migrations.0008_apple_event_license_key")
    ebook = EBookFactory()
    old = timezone.now() - timedelta(minutes=10)
    stranded = LicenseFactory(ebook=ebook, state=State.PENDING, event_id="")
    sent = LicenseFactory(ebook=ebook, state=State.PENDING, event_id="apple-1")
    License.objects.filter(pk=stranded.pk).update(updated_at=old)
    migration.stranded_rows_keyed(apps, None)
    stranded.refresh_from_db()
    assert stranded.event_id.startswith("req:") and stranded.updated_at == old
    assert outbox.licenses_stranded(token=ebook.token) == [(ebook.pk, stranded.pk)]
    assert AppleEvent.objects.get(license_key=stranded.event_id).state == "sending"
    assert License.objects.get(pk=sent.pk).event_id == "apple-1"


def test_a_request_whose_licenses_settled_otherwise_stops_counting_as_unanswered():
    ebook = EBookFactory()
    token = ebook.token
    _event(token, event_id="req:3", license_key="req:3", state=AppleEvent.State.SENDING)
    row = LicenseFactory(ebook=ebook, state=State.PENDING, event_id="req:3")
    assert outbox.requests_unanswered(token=token)
    assert outbox.requests_settled_close(token=token, at=timezone.now()) == 0
    License.objects.filter(pk=row.pk).update(state=State.ASSIGNED)  # a notification told us
    assert outbox.requests_settled_close(token=token, at=timezone.now()) == 1
    assert not outbox.requests_unanswered(token=token)
