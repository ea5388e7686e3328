"""SVG charts render with no data, one day and a year; numbers are readable without colour."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from reports.charts import line_chart
from reports.models import BookSnapshot
from reports.services import snapshots_backfill, snapshots_write
from tests.factories import EBookFactory

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 1)


def _render(chart) -> str:
    return render_to_string("admin/reports/chart.html", {"chart": chart, "periods": (30, 90, 365)})


def _snap(day, total, assigned):
    return BookSnapshot(
        day=day, total=total, assigned=assigned, available=total - assigned, retired=0
    )


def test_no_data_renders_a_message_and_no_svg():
    html = _render(line_chart(caption="Licenses", snapshots=[], days=30))
    assert "No history yet" in html
    assert "<svg" not in html.split("report-chart-empty")[1]


def test_one_day_renders_one_point_per_series_with_its_numbers():
    html = _render(line_chart(caption="Licenses", snapshots=[_snap(DAY, 10, 4)], days=30))
    assert html.count("<polyline") == 3
    assert "<title>1 Mar 2026: total 10, assigned 4, available 6</title>" in html
    assert "<td>4</td>" in html  # the numbers table beside the chart


def test_a_year_renders_every_day_with_a_hover_title_and_table_row():
    snaps = [_snap(DAY - timedelta(days=i), 1000, 1000 - i) for i in range(365, 0, -1)]
    chart = line_chart(caption="Licenses", snapshots=snaps, days=365)
    html = _render(chart)
    assert html.count('class="report-chart-hover"') == 365
    assert html.count('<tr><th scope="row">') == 365
    assert all(len(line.points.split()) == 365 for line in chart.lines)
    assert "Numbers (365 days)" in html


def test_series_differ_by_pattern_and_symbol_not_only_colour():
    html = _render(line_chart(caption="L", snapshots=[_snap(DAY, 5, 1), _snap(DAY, 5, 2)], days=30))
    assert 'stroke-dasharray="8 4"' in html and 'stroke-dasharray="2 3"' in html
    assert "● Assigned" in html and "▲ Available" in html


def test_book_page_chart_follows_the_chosen_period(viewer_client):
    book = EBookFactory(total_count=100, assigned_count=50, available_count=50)
    snapshots_backfill(days=400)
    snapshots_write()
    url = reverse("admin:ebooks_ebook_change", args=[book.pk])
    for days, rows in ((30, 30), (90, 90), (365, 365)):
        page = viewer_client.get(url, {"days": days}).content.decode()
        assert f"Numbers ({rows} days)" in page, days
    assert "Numbers (90 days)" in viewer_client.get(url, {"days": "nonsense"}).content.decode()


def test_token_page_shows_totals_and_a_chart(viewer_client):
    book = EBookFactory(total_count=40, assigned_count=10, available_count=30)
    snapshots_write()
    page = viewer_client.get(reverse("admin:tokens_vpptoken_change", args=[book.token_id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Licenses across the books of" in html
    assert "<title>" in html and "total 40, assigned 10, available 30" in html
