"""Faults the reliability suite injects into the real parts: the broker, the database, Apple."""

from __future__ import annotations

import socket

import pytest

from tests.sync.conftest import snapshot, sync_now  # noqa: F401 - shared fixtures and helper


def _reset_publisher_pools(app) -> None:
    # Celery caches its broker connections; drop the app's references so the next publish
    # dials the configured URL afresh. Never close them: kombu shares one pool per URL across
    # the process, and a closed one fails every later test ("Acquire on closed pool").
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
def broker_down(dead_broker_url):
    """Celery publishes to a broker that refuses connections; restored afterwards."""
    from config.celery import app

    # Saved and restored by key: monkeypatching the computed attributes left the write URL
    # pointing at the dead broker for every later test.
    saved = {key: app.conf.get(key) for key in ("broker_url", "broker_write_url")}
    _reset_publisher_pools(app)
    app.conf.update(broker_url=dead_broker_url, broker_write_url=dead_broker_url)
    yield app
    app.conf.update(saved)
    _reset_publisher_pools(app)
