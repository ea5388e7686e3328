"""Sync now, the schedule, the command: many triggers make one run; stuck runs are reaped."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from config.schedule import build_beat_schedule
from sync.models import SyncRun
from sync.services import sync_all_request, sync_request, sync_runs_reap
from tokens.models import VppToken

State = SyncRun.State


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_triggers_make_one_run(apple, vpp_token):
    barrier = threading.Barrier(20)
    results = []

    def click():
        barrier.wait()
        try:
            results.append(
                sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).created
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 19 + [True]
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db
def test_sync_now_queues_a_celery_task_after_commit(
    apple, vpp_token, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("sync.tasks.sync_token.delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        request = sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL)
    assert sent == [request.run.pk]


@pytest.mark.django_db
def test_a_finished_run_lets_the_next_one_start(apple, vpp_token, sync_now):
    sync_now(vpp_token)
    assert sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).created


@pytest.mark.django_db
def test_reaper_fails_a_run_that_stopped_heart_beating(apple, vpp_token):
    run = sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).run
    SyncRun.objects.filter(pk=run.pk).update(state=State.RUNNING, heartbeat_at=timezone.now())
    assert sync_runs_reap(now=timezone.now() + timedelta(minutes=5)) == 0
    assert sync_runs_reap(now=timezone.now() + timedelta(minutes=11)) == 1
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert "stopped responding" in run.error_message


@pytest.mark.django_db
def test_reaper_fails_a_run_no_worker_picked_up(apple, vpp_token):
    run = sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False).run
    sync_runs_reap(now=timezone.now() + timedelta(hours=3))
    run.refresh_from_db()
    assert "No worker picked this sync up" in run.error_message


@pytest.mark.django_db
def test_scheduled_sync_skips_tokens_apple_refused(apple, vpp_token, token_file, monkeypatch):
    from tokens.services import token_import

    broken = token_import(
        file_bytes=token_file("Annex"), apple_id="a@b.example", account_type="education"
    )
    VppToken.objects.filter(pk=broken.pk).update(state=VppToken.State.INVALID)
    monkeypatch.setattr("sync.tasks.sync_token.delay", lambda run_id: None)
    assert sync_all_request() == {"queued": 1, "skipped": 1, "failed": 0}


def test_beat_runs_the_sync_twice_a_day_by_default(monkeypatch):
    monkeypatch.delenv("VPP_SYNC_CRON", raising=False)
    entry = build_beat_schedule()["sync all tokens"]
    assert entry["task"] == "sync.tasks.sync_all_tokens"
    assert entry["schedule"].hour == {0, 12}
    assert entry["schedule"].minute == {0}
    monkeypatch.setenv("VPP_SYNC_CRON", "30 6 * * 1-5")
    assert build_beat_schedule()["sync all tokens"]["schedule"].hour == {6}
    monkeypatch.setenv("VPP_SYNC_CRON", "disable")
    assert "sync all tokens" not in build_beat_schedule()


@pytest.mark.django_db
def test_vpp_sync_command_prints_progress_and_succeeds(apple, vpp_token):
    out = io.StringIO()
    call_command("vpp_sync", token=vpp_token.pk, stdout=out)
    text = out.getvalue()
    assert "Books and license counts" in text
    assert "done:" in text
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.COMMAND


@pytest.mark.django_db
def test_vpp_sync_command_exits_non_zero_on_failure(apple, vpp_token):
    apple.set_faults("expired")
    with pytest.raises(CommandError, match="did not succeed"):
        call_command("vpp_sync", token=vpp_token.pk, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_vpp_sync_command_refuses_when_a_run_is_active(apple, vpp_token):
    sync_request(token=vpp_token, trigger=SyncRun.Trigger.MANUAL, enqueue=False)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("vpp_sync", token=vpp_token.pk, stdout=io.StringIO(), stderr=err)
    assert "already queued" in err.getvalue()


@pytest.mark.django_db
def test_vpp_sync_command_unknown_token():
    with pytest.raises(CommandError, match="no token with id 99"):
        call_command("vpp_sync", token=99)
