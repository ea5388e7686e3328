"""A License viewer reads the dashboard, follows a number to its list and downloads the CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import EBookFactory, VppTokenFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_viewer_follows_running_low_to_the_books_and_exports_them(
    live_server, sign_in, license_viewer
):
    token = VppTokenFactory(name="Main Library")
    EBookFactory(token=token, title="Nearly Gone", total_count=100, available_count=3)
    EBookFactory(token=token, title="Plenty Left", total_count=100, available_count=90)
    page = sign_in(license_viewer)

    page.goto(f"{live_server.url}/admin/")
    low = page.locator('a[data-figure="low"]')
    expect(low).to_have_text("1")
    expect(page.locator(".report-dashboard")).to_contain_text("Figures as of")
    low.click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Nearly Gone")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Nearly Gone" in text and "Plenty Left" not in text

    page.get_by_role("link", name="Nearly Gone").first.click()
    expect(page.locator(".report-book")).to_contain_text("running low")
    expect(page.locator(".report-chart")).to_contain_text("No history yet")
