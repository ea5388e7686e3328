"""Faults the reliability suite injects into the real parts: the broker, the database, Apple."""

from __future__ import annotations

import socket

import pytest

from tests.sync.conftest import snapshot, sync_now  # noqa: F401 - shared fixtures and helper


def _reset_publisher_pools(app) -> None:
    # Celery caches its publishing pools; forget them (never close: kombu keeps them in a global
    # registry that other tests reuse) so the next publish dials the configured URL afresh.
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

    # conf.update, not monkeypatch: undoing a setattr on Celery's settings leaves the patched
    # broker_write_url behind (its getter falls back to broker_url), breaking later tests.
    # No broker_transport: a Redis deployment has none (the embedded broker's would win).
    keys = ("broker_url", "broker_write_url", "broker_transport")
    saved = {key: app.conf.get(key) for key in keys}
    _reset_publisher_pools(app)
    app.conf.update(
        broker_url=dead_broker_url, broker_write_url=dead_broker_url, broker_transport=None
    )
    try:
        yield app
    finally:
        app.conf.update(saved)
        _reset_publisher_pools(app)
