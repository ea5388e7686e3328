"""Journey 6: a license viewer reads dashboards, filters, exports CSV, and can change nothing."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from assignments.models import License
from ebooks.models import EBook
from tests.e2e.conftest import PORTAL_ADMIN_ONLY, assert_fits, assert_read_only, menu_links
from tests.factories import LicenseFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_viewer_reads_dashboards_filters_exports_and_changes_nothing(
    live_server, sign_in, license_viewer, synced_token, screenshot
):
    synced_token.refresh_from_db()
    book = EBook.objects.filter(token=synced_token).order_by("title").first()
    for _ in range(3):
        LicenseFactory(ebook=book, state=License.State.ASSIGNED)
    short = [
        LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH, error_number=9709)
        for _ in range(2)
    ]
    page = sign_in(license_viewer)

    # The dashboard: the token with its books and counts, and who is short of a license.
    expect(page.locator("#dashboard-title")).to_be_visible()
    tokens = page.locator("tr.report-token")
    expect(tokens).to_have_count(1)
    expect(tokens).to_contain_text(synced_token.name)
    expect(tokens.locator("[data-figure=books]")).to_have_text(str(synced_token.book_count))
    expect(page.locator("[data-figure=shortfall]")).to_have_text("2")
    assert_fits(page)
    screenshot("journey6-viewer-dashboard")

    # A filter narrows the license list; the CSV export carries the filter and has the rows.
    page.locator("[data-figure=shortfall]").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    with page.expect_download() as download:
        page.locator(".object-tools").get_by_role("link", name="Export CSV").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    exported = list(csv.reader(io.StringIO(text)))
    assert len(exported) == 1 + 2, exported
    emails = {lic.person.email for lic in short}
    assert emails <= {cell for row in exported[1:] for cell in row}

    # Everything in the menu reads; nothing writes.
    for link in menu_links(page):
        page.goto(link)
        assert_read_only(page, actions=frozenset())  # not even Sync now
        assert_fits(page)
    page.goto(f"{live_server.url}/admin/tokens/vpptoken/{synced_token.pk}/change/")
    expect(page.locator(".field-state_badge .portal-badge")).to_have_text("Valid")
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
    expect(page.get_by_role("link", name="Renew")).to_have_count(0)
    page.goto(f"{live_server.url}/admin/ebooks/ebook/{book.pk}/change/")
    expect(page.get_by_role("link", name="Assign to groups")).to_have_count(0)

    # Typing a portal admin's address gets the portal's 403 page.
    for url in PORTAL_ADMIN_ONLY:
        response = page.goto(live_server.url + url)
        assert response is not None and response.status == 403, url
        expect(page.locator("#content")).to_contain_text("It needs the role Portal admins")
        expect(page.locator("#content")).to_contain_text("Your role: License viewers")
        expect(page.locator("input[type=file]")).to_have_count(0)
    screenshot("journey6-viewer-refused")
