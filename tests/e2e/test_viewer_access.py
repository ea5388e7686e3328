"""A License viewer reads the catalogue but is offered nothing that changes it or Apple's state."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import EBookFactory, VppTokenFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_viewer_reads_the_ebook_list_without_sync_or_upload(live_server, sign_in, license_viewer):
    token = VppTokenFactory(name="Main Library")
    EBookFactory(token=token, title="Treasure Island", author="Robert Louis Stevenson")
    EBookFactory(token=token, title="Emma", author="Jane Austen")
    page = sign_in(license_viewer)

    page.goto(f"{live_server.url}/admin/ebooks/ebook/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("Treasure Island")
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)

    page.goto(f"{live_server.url}/admin/tokens/vpptoken/")
    expect(page.locator("#result_list")).to_contain_text("Main Library")
    expect(page.get_by_role("link", name="Add VPP token")).to_have_count(0)
    expect(page.locator('a[href$="/admin/tokens/vpptoken/add/"]')).to_have_count(0)
    # No bulk "Sync now" action on the list either.
    expect(page.locator("select[name=action] option", has_text="Sync now")).to_have_count(0)

    page.goto(f"{live_server.url}/admin/tokens/vpptoken/{token.pk}/change/")
    expect(page.locator(".field-state_badge .portal-badge")).to_be_visible()
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
    expect(page.get_by_role("link", name="Renew")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)

    # Typing the upload address by hand does not help.
    response = page.goto(f"{live_server.url}/admin/tokens/vpptoken/add/")
    assert response is not None and response.status == 403
    expect(page.locator("input[type=file]")).to_have_count(0)
