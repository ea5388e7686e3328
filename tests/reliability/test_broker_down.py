"""Sync now while the broker is down: a failed run with a plain message, fast, and nothing that
blocks the next sync once the broker is back."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from sync.models import SyncRun
from sync.services import BROKER_DOWN_MESSAGE, sync_request, sync_runs_reap

pytestmark = pytest.mark.django_db
State = SyncRun.State


def _sync_now(client, token):
    return client.post(reverse("admin:sync_token_sync_now", args=[token.pk]), follow=True)


@pytest.mark.django_db(transaction=True)  # on_commit runs as in production, inside the request
def test_sync_now_with_the_broker_down_fails_the_run_with_a_message(
    operator_client, vpp_token, broker_down
):
    started = time.monotonic()
    response = _sync_now(operator_client, vpp_token)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 6, f"Sync now took {elapsed:.1f}s with the broker down"
    run = SyncRun.objects.get()
    assert run.state == State.FAILED
    assert run.error_message == BROKER_DOWN_MESSAGE
    assert "task queue is not reachable" in response.content.decode()


def test_after_the_broker_is_back_sync_now_queues_a_new_run(
    operator_client, vpp_token, broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        _sync_now(operator_client, vpp_token)
    assert SyncRun.objects.get().state == State.FAILED
    # The broker is back: publishing is captured here, not sent.
    sent = []
    monkeypatch.setattr("sync.tasks.sync_token.delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = _sync_now(operator_client, vpp_token)
    assert "queued" in response.content.decode()
    assert SyncRun.objects.filter(state=State.QUEUED).count() == 1
    assert sent == [SyncRun.objects.get(state=State.QUEUED).pk]


def test_vpp_sync_runs_a_queued_run_whose_message_never_came(apple, vpp_token):
    stale = sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).run
    SyncRun.objects.filter(pk=stale.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    call_command("vpp_sync", token=vpp_token.pk, stdout=io.StringIO(), stderr=io.StringIO())
    stale.refresh_from_db()
    assert stale.state == State.SUCCEEDED
    assert SyncRun.objects.count() == 1


def test_a_late_message_for_a_taken_over_run_does_nothing(apple, vpp_token):
    from sync.tasks import sync_token

    stale = sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).run
    SyncRun.objects.filter(pk=stale.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    call_command("vpp_sync", token=vpp_token.pk, stdout=io.StringIO(), stderr=io.StringIO())
    requests_before = SyncRun.objects.get().apple_requests
    assert sync_token.run(stale.pk) == State.SUCCEEDED  # the message arrives late: no second run
    assert SyncRun.objects.get().apple_requests == requests_before


def test_reaper_frees_a_queued_run_within_minutes(apple, vpp_token):
    run = sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).run
    assert sync_runs_reap(now=timezone.now() + timedelta(minutes=5)) == 0
    assert sync_runs_reap(now=timezone.now() + timedelta(minutes=16)) == 1
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).created
