"""Every page carries a Content-Security-Policy without inline script, and the admin's own
scripts (actions, filters, widgets) and ours still run under it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_key_pages_run_their_scripts_with_no_csp_violation(
    live_server, sign_in, page, portal_admin, synced_token
):
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(portal_admin)
    for path in (
        "/admin/",
        "/admin/tokens/vpptoken/add/",
        f"/admin/tokens/vpptoken/{synced_token.pk}/change/",
        "/admin/assignments/usergroup/add/",
        "/admin/assignments/person/",
        "/admin/sync/syncrun/",
    ):
        response = page.goto(f"{live_server.url}{path}")
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], path

    # The admin's actions.js runs: ticking "select all" selects every row of the book list.
    page.goto(f"{live_server.url}/admin/ebooks/ebook/")
    if page.locator("#action-toggle").count():
        page.check("#action-toggle")
        expect(page.locator("input.action-select").first).to_be_checked()
    assert violations == []
