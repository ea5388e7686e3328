"""The metadata phase: store look-ups side by side, within Apple's limit, each batch written as
it comes back."""

from __future__ import annotations

import threading
import time

import pytest

from apple.client import AppleClient
from apple.errors import TransientError
from ebooks.models import EBook
from sync import engine
from sync.models import SyncRun
from tests.sync.test_engine import generated  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


class LookUps:
    """Wraps AppleClient.lookup_metadata: counts the look-ups in flight, fails chosen ones."""

    def __init__(self, monkeypatch, *, fail_call: int | None = None) -> None:
        self.real = AppleClient.lookup_metadata
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = self.calls = 0
        self.fail_call = fail_call
        self.failed: list[str] = []  # the adamIds of the failed look-up
        monkeypatch.setattr(
            AppleClient, "lookup_metadata", lambda client, *a, **kw: self._look_up(client, *a, **kw)
        )

    def _look_up(self, client, adam_ids, **kwargs):
        with self.lock:
            self.calls += 1
            call = self.calls
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.05)  # long enough for the others to start
            if call == self.fail_call:
                self.failed = list(adam_ids)
                raise TransientError("the store is down")
            return self.real(client, adam_ids, **kwargs)
        finally:
            with self.lock:
                self.in_flight -= 1


def _synced(make, sync_now, monkeypatch, *, books: int, fail_call: int | None = None):
    """A first sync of a token with this many books (make: the generated fixture), two
    adamIds a look-up."""
    monkeypatch.setattr(engine, "METADATA_BATCH", 2)
    _, token, _ = make(books=books)
    look_ups = LookUps(monkeypatch, fail_call=fail_call)
    run = sync_now(token, full=True)
    assert run.state == SyncRun.State.SUCCEEDED, run.error_message
    return token, look_ups


def test_look_ups_run_side_by_side_never_more_than_apples_limit(
    generated,  # noqa: F811
    sync_now,
    monkeypatch,
):
    token, look_ups = _synced(generated, sync_now, monkeypatch, books=24)

    books = EBook.objects.filter(token=token)
    adam_ids = set(books.values_list("adam_id", flat=True))  # an edition shares its book's
    assert look_ups.calls == (len(adam_ids) + 1) // 2
    assert look_ups.most_in_flight == engine.PARALLEL_PAGES
    assert not books.filter(metadata_fetched_at__isnull=True).exists()


def test_a_failed_look_up_leaves_its_books_for_the_next_run_and_writes_the_others(
    generated,  # noqa: F811
    sync_now,
    monkeypatch,
):
    token, look_ups = _synced(generated, sync_now, monkeypatch, books=12, fail_call=1)

    assert len(look_ups.failed) == 2
    waiting = EBook.objects.filter(token=token, metadata_fetched_at__isnull=True)
    assert sorted(waiting.values_list("adam_id", flat=True)) == sorted(look_ups.failed)
    assert EBook.objects.filter(token=token, metadata_fetched_at__isnull=False).count() > 2
