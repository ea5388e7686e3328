"""The database under stress: twenty people pressing Sync now at once make one run (on whichever
database the suite uses), and a dropped database connection is replaced on the next request."""

from __future__ import annotations

import threading

import pytest
import requests
from django.db import connection
from django.test import Client
from django.urls import reverse

from sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_parallel_sync_now_presses_make_one_run(operator, vpp_token, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("sync.tasks.sync_token.delay", sent.append)
    url = reverse("admin:sync_token_sync_now", args=[vpp_token.pk])
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def press() -> None:
        client = Client()
        client.force_login(operator)
        barrier.wait()
        try:
            statuses.append(client.post(url).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=press) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [302] * 20, statuses
    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.QUEUED
    assert sent == [run.pk]


def test_a_dropped_database_connection_is_replaced_on_the_next_request(live_server, portal_admin):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite is a file opened per request: there is no server to restart")
    client = Client()
    client.force_login(portal_admin)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    assert session.get(f"{live_server.url}/admin/", timeout=30).status_code == 200
    # What a database restart does to every open connection but ours.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    response = session.get(f"{live_server.url}/admin/", timeout=30)
    assert response.status_code == 200
    assert "Site administration" in response.text or "Dashboard" in response.text
