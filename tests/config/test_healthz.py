"""/healthz proves database, broker, a live worker, beat and the token key, says which part is
down, stays cheap under many pollers, and shows details only to signed-in staff."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from config.celery import app
from config.health import BEAT_HEARTBEAT_KEY, health_cache_clear
from config.tasks import beat_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)
DETAIL = "/healthz?detail=1"


@pytest.fixture(autouse=True)
def _fresh_health():
    cache.delete(BEAT_HEARTBEAT_KEY)
    health_cache_clear()
    yield
    cache.delete(BEAT_HEARTBEAT_KEY)
    health_cache_clear()


def test_healthy_with_a_live_worker_and_details_only_for_staff(
    client, operator_client, live_worker
):
    anonymous = client.get(DETAIL)
    assert anonymous.status_code == 200, anonymous.json()
    assert anonymous.json()["checks"]["worker"] == {"ok": True}
    assert all(set(check) == {"ok"} for check in anonymous.json()["checks"].values())
    response = operator_client.get(DETAIL)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "worker", "beat", "token_key"}
    assert body["checks"]["worker"] == {
        "ok": True,
        "detail": "answered",
        "ms": pytest.approx(0, abs=5000),
    }


@override_settings(HEALTHZ_TIMEOUT=1)
def test_503_naming_the_worker_when_no_worker_answers(operator_client):
    response = operator_client.get(DETAIL)
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["failing"] == ["worker"]
    assert "no worker answered" in body["checks"]["worker"]["detail"]


@override_settings(HEALTHZ_TIMEOUT=1)
def test_503_naming_the_broker_when_it_is_unreachable(operator_client):
    # Port 1 on loopback: nothing listens there, so the connection is refused. conf.update and
    # an explicit restore: monkeypatch's undo leaves Celery's broker_write_url patched.
    # No broker_transport: a Redis deployment has none (the embedded broker's would win).
    saved = {key: app.conf.get(key) for key in ("broker_write_url", "broker_transport")}
    app.conf.update(broker_write_url="redis://:secret-pw@127.0.0.1:1/0", broker_transport=None)
    try:
        response = operator_client.get(DETAIL)
    finally:
        app.conf.update(saved)
    body = response.json()
    assert response.status_code == 503
    assert "broker" in body["failing"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["worker"]["detail"] == "skipped: broker is down"
    assert "secret-pw" not in response.content.decode()


@pytest.mark.parametrize("key", ["", "not-a-fernet-key"])
def test_503_naming_the_token_key_when_it_is_missing_or_bad(operator_client, settings, key):
    # Both through the fixture: an override_settings decorator under it leaked its 1 s timeout
    # into later tests (the fixture's undo restored the decorator's settings), and a live
    # worker on the embedded broker, which polls each second, then sometimes missed it.
    settings.HEALTHZ_TIMEOUT = 1
    settings.VPP_TOKEN_KEY = key
    response = operator_client.get(DETAIL)
    assert response.status_code == 503
    assert "token_key" in response.json()["failing"]
    assert "VPP_TOKEN_KEY" in response.json()["checks"]["token_key"]["detail"]


def test_beat_is_down_when_its_heartbeat_is_stale(client, live_worker):
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now() - timedelta(minutes=10), timeout=None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["beat"]


def test_beat_heartbeat_task_marks_beat_alive(operator_client, live_worker):
    beat_heartbeat.delay().get(timeout=10)
    body = operator_client.get(DETAIL).json()
    assert body["checks"]["beat"]["ok"] is True
    assert body["checks"]["beat"]["detail"].startswith("last heartbeat")


@override_settings(HEALTHZ_TIMEOUT=2)
def test_many_pollers_with_the_worker_down_send_one_ping_and_wait_not(client, monkeypatch):
    sent = []
    real_send_task = app.send_task

    def counting_send_task(*args, **kwargs):
        sent.append(args[0])
        return real_send_task(*args, **kwargs)

    monkeypatch.setattr(app, "send_task", counting_send_task)
    timings: list[float] = []
    barrier = threading.Barrier(8)

    def poll():
        from django.db import connection
        from django.test import Client

        barrier.wait()
        started = time.monotonic()
        Client().get("/healthz")
        timings.append(time.monotonic() - started)
        connection.close()

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sent == ["config.tasks.ping"]
    timings.sort()
    assert timings[-2] < 1.5, timings  # only the one that pinged waited for the timeout
    started = time.monotonic()
    assert client.get("/healthz").status_code == 503  # the cached failure, at once
    assert time.monotonic() - started < 1
    assert sent == ["config.tasks.ping"]


@override_settings(HEALTHZ_TIMEOUT=1)
def test_detail_is_not_for_anonymous_or_non_staff_users(client, django_user_model):
    assert set(client.get(DETAIL).json()["checks"]["database"]) == {"ok"}
    plain = django_user_model.objects.create_user(username="plain", password="x")
    client.force_login(plain)
    assert set(client.get(DETAIL).json()["checks"]["database"]) == {"ok"}


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
