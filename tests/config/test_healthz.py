"""/healthz proves database, broker, a live worker and beat, and says which part is down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from config.celery import app
from config.health import BEAT_HEARTBEAT_KEY
from config.tasks import beat_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_heartbeat():
    cache.delete(BEAT_HEARTBEAT_KEY)
    yield
    cache.delete(BEAT_HEARTBEAT_KEY)


def test_healthy_with_a_live_worker(client, live_worker):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "worker", "beat"}
    assert body["checks"]["worker"] == {
        "ok": True,
        "detail": "answered",
        "ms": pytest.approx(0, abs=5000),
    }


@override_settings(HEALTHZ_TIMEOUT=1)
def test_503_naming_the_worker_when_no_worker_answers(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["failing"] == ["worker"]
    assert "no worker answered" in body["checks"]["worker"]["detail"]


@override_settings(HEALTHZ_TIMEOUT=1)
def test_503_naming_the_broker_when_it_is_unreachable(client, monkeypatch):
    # Port 1 on loopback: nothing listens there, so the connection is refused.
    monkeypatch.setattr(app.conf, "broker_write_url", "redis://:secret-pw@127.0.0.1:1/0")
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert "broker" in body["failing"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["worker"]["detail"] == "skipped: broker is down"
    assert "secret-pw" not in response.content.decode()


def test_beat_is_down_when_its_heartbeat_is_stale(client, live_worker):
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now() - timedelta(minutes=10), timeout=None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["beat"]


def test_beat_heartbeat_task_marks_beat_alive(client, live_worker):
    beat_heartbeat.delay().get(timeout=10)
    body = client.get("/healthz").json()
    assert body["checks"]["beat"]["ok"] is True
    assert body["checks"]["beat"]["detail"].startswith("last heartbeat")


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
