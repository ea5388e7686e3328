"""Daily history: one row per book per day, written by the beat task, by every sync, backfilled."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from reports.models import BookSnapshot, TokenSnapshot
from reports.services import snapshots_backfill, snapshots_write
from tests.factories import EBookFactory, VppTokenFactory

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 1)


def test_snapshot_records_each_book_once_per_day_and_updates_in_place():
    token = VppTokenFactory()
    book = EBookFactory(token=token, total_count=50, assigned_count=10, available_count=40)
    EBookFactory(token=token, gone=True)  # left the token: no history
    assert snapshots_write(day=DAY) == 1
    book.assigned_count, book.available_count = 12, 38
    book.save()
    snapshots_write(day=DAY)
    row = BookSnapshot.objects.get(ebook=book, day=DAY)
    assert (row.total, row.assigned, row.available, row.retired) == (50, 12, 38, 0)
    assert BookSnapshot.objects.count() == 1
    totals = TokenSnapshot.objects.get(token=token, day=DAY)
    assert (totals.books, totals.total, totals.assigned, totals.available) == (1, 50, 12, 38)


def test_snapshot_of_one_token_leaves_the_others_alone():
    first, second = EBookFactory(), EBookFactory()
    snapshots_write(token_ids=[first.token_id], day=DAY)
    assert list(BookSnapshot.objects.values_list("ebook_id", flat=True)) == [first.pk]
    assert not TokenSnapshot.objects.filter(token=second.token).exists()


def test_backfill_writes_a_rising_history_before_today_and_keeps_recorded_days():
    book = EBookFactory(total_count=100, assigned_count=60, available_count=40)
    snapshots_write(day=DAY - timedelta(days=1))  # a real reading the backfill must keep
    written = snapshots_backfill(days=30, today=DAY)
    assert written == 30
    rows = list(BookSnapshot.objects.filter(ebook=book).order_by("day"))
    assert len(rows) == 30
    assert rows[0].day == DAY - timedelta(days=30)
    assert rows[0].assigned == 0
    assert [r.assigned for r in rows[:-1]] == sorted(r.assigned for r in rows[:-1])
    assert rows[-1].assigned == 60  # the real reading, not the backfill's 58
    assert TokenSnapshot.objects.filter(token=book.token).count() == 30


def _sync(token, capture, *, execute: bool):
    from sync.models import SyncRun
    from sync.services import sync_request, sync_run_execute

    run = sync_request(token=token, trigger=SyncRun.Trigger.COMMAND, enqueue=False).run
    with capture(execute=execute) as callbacks:
        sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run, callbacks


def test_a_sync_queues_todays_snapshot_once_it_has_committed(
    apple, vpp_token, django_capture_on_commit_callbacks, monkeypatch
):
    from reports.tasks import after_sync_record

    queued = []
    monkeypatch.setattr(after_sync_record, "delay", lambda *args: queued.append(args))
    run, callbacks = _sync(vpp_token, django_capture_on_commit_callbacks, execute=False)
    assert run.state == "succeeded"
    assert queued == []  # nothing is queued before the sync's transaction commits
    for callback in callbacks:
        callback()
    assert queued == [(vpp_token.pk,)]
    # The sync itself wrote no history: the task does.
    assert not BookSnapshot.objects.filter(ebook__token=vpp_token).exists()
    after_sync_record.apply(args=(vpp_token.pk,)).get()
    books = vpp_token.ebooks.filter(gone_at__isnull=True).count()
    assert books
    assert BookSnapshot.objects.filter(ebook__token=vpp_token).count() == books
    assert TokenSnapshot.objects.get(token=vpp_token).books == books


def test_a_broker_that_is_down_never_fails_the_sync_and_the_daily_task_catches_up(
    apple, vpp_token, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from kombu.exceptions import OperationalError

    from reports.tasks import after_sync_record, snapshots_daily

    def refused(*args):
        raise OperationalError("Connection refused")

    monkeypatch.setattr(after_sync_record, "delay", refused)
    run, _ = _sync(vpp_token, django_capture_on_commit_callbacks, execute=True)
    assert run.state == "succeeded"
    assert "the daily task catches up" in caplog.text
    assert not BookSnapshot.objects.filter(ebook__token=vpp_token).exists()
    snapshots_daily()
    books = vpp_token.ebooks.filter(gone_at__isnull=True).count()
    assert BookSnapshot.objects.filter(ebook__token=vpp_token).count() == books


def test_the_daily_beat_task_snapshots_every_token_and_checks_stock(settings):
    from config.schedule import build_beat_schedule
    from reports.models import StockAlert
    from reports.tasks import snapshots_daily

    entry = build_beat_schedule()["daily snapshots"]
    assert entry["task"] == snapshots_daily.name
    first, second = EBookFactory(), EBookFactory(total_count=100, available_count=2)
    assert snapshots_daily() == {"snapshots": 2, "alerts": 1}
    assert BookSnapshot.objects.filter(ebook__in=[first, second]).count() == 2
    assert StockAlert.objects.get().ebook == second


def test_free_books_add_their_holders_but_not_their_limitless_count_to_token_totals():
    token = VppTokenFactory()
    EBookFactory(token=token, total_count=10, assigned_count=4, available_count=6)
    EBookFactory(
        token=token,
        free=True,
        total_count=2_000_000_000,
        available_count=2_000_000_000,
        assigned_count=7,
    )
    snapshots_write(day=DAY)
    totals = TokenSnapshot.objects.get(token=token, day=DAY)
    assert (totals.books, totals.total, totals.assigned, totals.available) == (2, 10, 11, 6)
    snapshots_backfill(days=2, today=DAY)
    earlier = TokenSnapshot.objects.get(token=token, day=DAY - timedelta(days=1))
    assert earlier.total == 10 and earlier.available == 8  # half of each book's holders then
