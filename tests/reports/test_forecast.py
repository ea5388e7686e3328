"""The run-out forecast from a crafted history: rate of recent weeks, people waiting, to buy."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from assignments.models import License
from reports.models import BookSnapshot
from reports.selectors import forecasts_read
from tests.factories import EBookFactory, LicenseFactory

pytestmark = pytest.mark.django_db
TODAY = date(2026, 3, 1)


def _history(book, assigned_by_days_ago: dict[int, int]) -> None:
    BookSnapshot.objects.bulk_create(
        BookSnapshot(
            ebook=book,
            day=TODAY - timedelta(days=back),
            total=book.total_count,
            assigned=assigned,
            available=book.total_count - assigned,
            retired=0,
        )
        for back, assigned in assigned_by_days_ago.items()
    )


def test_rate_of_recent_weeks_gives_the_run_out_date_and_what_to_buy():
    # 56 licenses went in the last 28 days: 2 a day; 40 left → runs out in 20 days.
    book = EBookFactory(title="Atlas", total_count=200, assigned_count=160, available_count=40)
    _history(book, {60: 0, 28: 104, 14: 132, 1: 158})
    for _ in range(70):
        LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    for _ in range(10):
        LicenseFactory(ebook=book, state=License.State.WAITING_INVITATION)
    [forecast] = forecasts_read(ebooks=[book], today=TODAY)
    assert forecast.per_day == pytest.approx(2.0)
    assert forecast.runs_out_on == TODAY + timedelta(days=20)
    assert forecast.waiting == 80
    assert forecast.to_buy == 40  # 80 people still due a license, 40 left
    assert forecast.sentence == "Buy 40 more of Atlas before 21 March 2026."


def test_no_history_means_no_run_out_date_but_still_counts_what_to_buy():
    book = EBookFactory(title="Fresh", total_count=10, assigned_count=5, available_count=5)
    for _ in range(7):
        LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    [forecast] = forecasts_read(ebooks=[book], today=TODAY)
    assert forecast.per_day == 0
    assert forecast.runs_out_on is None
    assert forecast.to_buy == 2
    assert forecast.sentence == "Buy 2 more of Fresh."


def test_a_book_with_none_left_has_run_out_today():
    book = EBookFactory(title="Gone Dry", total_count=10, assigned_count=10, available_count=0)
    LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    [forecast] = forecasts_read(ebooks=[book], today=TODAY)
    assert forecast.runs_out_on == TODAY
    assert forecast.sentence == "Buy 1 more of Gone Dry now: none left, people waiting."


def test_enough_licenses_and_a_slow_rate_says_when_it_runs_out_without_buying():
    book = EBookFactory(title="Slow", total_count=100, assigned_count=30, available_count=70)
    _history(book, {20: 20})  # 10 in 20 days: half a license a day, 70 left → 140 days
    [forecast] = forecasts_read(ebooks=[book], today=TODAY)
    assert forecast.to_buy == 0
    assert forecast.runs_out_on == TODAY + timedelta(days=140)
    assert "runs out around" in forecast.sentence


def test_free_books_never_run_out():
    book = EBookFactory(title="Free", free=True)
    [forecast] = forecasts_read(ebooks=[book], today=TODAY)
    assert forecast.runs_out_on is None and forecast.to_buy == 0
    assert "free" in forecast.sentence


def test_the_book_page_shows_the_forecast(viewer_client):
    from django.urls import reverse

    book = EBookFactory(title="Shown", total_count=10, assigned_count=10, available_count=0)
    LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    page = viewer_client.get(reverse("admin:ebooks_ebook_change", args=[book.pk])).content
    assert b"Buy 1 more of Shown now" in page
