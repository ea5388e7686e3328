"""The embedded SQLite database holds what PostgreSQL holds: parallel writers wait, never fail."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from sync.models import SyncRun
from sync.services import sync_run_execute

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite settings; PostgreSQL has its own locking"
)


@pytest.mark.django_db
def test_sqlite_uses_wal_normal_sync_and_a_busy_timeout():
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        # The sync's writer keeps its batches' index pages cached and checkpoints seldom; a
        # new database (as this test one) has 8 KiB pages.
        assert cursor.execute("PRAGMA cache_size").fetchone()[0] == -32768
        assert cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 8192
        assert cursor.execute("PRAGMA page_size").fetchone()[0] == 8192
    assert connection.transaction_mode == "IMMEDIATE"


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_sync_now_presses_during_a_sync_make_one_run_without_lock_errors(
    apple, vpp_token, operator, monkeypatch
):
    """Issue 9 defect 14: the presses and the running sync write at once; all of them wait."""
    runs_started, queued = [], threading.Event()

    def delay(run_id: int) -> None:
        runs_started.append(run_id)
        queued.set()

    monkeypatch.setattr("sync.tasks.sync_token.delay", delay)
    url = reverse("admin:sync_token_sync_now", args=[vpp_token.pk])
    clients = []
    for _ in range(20):
        client = Client(raise_request_exception=True)
        client.force_login(operator)
        clients.append(client)
    barrier = threading.Barrier(21)
    statuses, errors, finished = [], [], []

    def press(client: Client) -> None:
        barrier.wait()
        try:
            for _ in range(3):
                statuses.append(client.post(url).status_code)
        except Exception as error:  # "database is locked" surfaces here
            errors.append(repr(error))
        finally:
            connection.close()

    def work() -> None:
        barrier.wait()
        try:
            # The worker: runs the sync the first press queued while the others keep pressing.
            assert queued.wait(timeout=60)
            finished.append(sync_run_execute(run_id=runs_started[0]))
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(client,)) for client in clients]
    threads.append(threading.Thread(target=work))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert statuses == [302] * 60
    assert finished[0].state == SyncRun.State.SUCCEEDED, finished[0].error_message
    assert len(runs_started) == SyncRun.objects.filter(token=vpp_token).count()
