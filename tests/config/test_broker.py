"""The embedded broker writes each message whole: a worker polling its folder never reads half."""

from __future__ import annotations

from queue import Empty

import pytest
from django.conf import settings
from kombu import Connection

from config import broker
from config.celery import app


@pytest.fixture
def channel(tmp_path):
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    connection = Connection(
        "filesystem://",
        transport="config.broker:Transport",
        transport_options={
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
        },
    )
    with connection:
        yield connection.channel()


def test_a_message_put_is_got_back(channel):
    channel._put("jobs", {"task": "sync", "args": [1]})

    assert channel._get("jobs") == {"task": "sync", "args": [1]}
    with pytest.raises(Empty):
        channel._get("jobs")


def test_a_worker_polling_while_a_message_is_written_sees_nothing_rather_than_half(
    channel, monkeypatch
):
    """kombu's own transport created the file first and wrote it after: a worker taking it in
    between read an empty message and stopped on the JSON error."""
    seen_while_writing = []
    real_dumps = broker.dumps

    def dumps_while_a_worker_polls(payload):
        try:
            seen_while_writing.append(channel._get("jobs"))
        except Empty:
            seen_while_writing.append(None)
        return real_dumps(payload)

    monkeypatch.setattr(broker, "dumps", dumps_while_a_worker_polls)

    channel._put("jobs", {"task": "sync"})

    assert seen_while_writing == [None]
    assert channel._get("jobs") == {"task": "sync"}


@pytest.mark.skipif(
    settings.CELERY_BROKER_URL != "filesystem://", reason="the embedded broker (no Redis) only"
)
def test_the_portal_and_its_worker_use_this_transport_for_the_embedded_broker():
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, broker.Transport)
    with app.connection_for_read() as connection:
        assert isinstance(connection.transport, broker.Transport)
