"""Faults the reliability suite injects into the real parts: the broker, the database, Apple."""

from __future__ import annotations

import socket

import pytest

from tests.sync.conftest import snapshot, sync_now  # noqa: F401 - shared fixtures and helper


def _reset_publisher_pools(app) -> None:
    # Celery caches its broker connections; drop them so the next publish dials afresh.
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def dead_broker_url():
    """A redis:// URL on a loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def broker_down(monkeypatch, dead_broker_url):
    """Celery publishes to a broker that refuses connections; restored afterwards."""
    from config.celery import app

    _reset_publisher_pools(app)
    monkeypatch.setattr(app.conf, "broker_url", dead_broker_url)
    monkeypatch.setattr(app.conf, "broker_write_url", dead_broker_url)
    yield app
    monkeypatch.undo()
    _reset_publisher_pools(app)
