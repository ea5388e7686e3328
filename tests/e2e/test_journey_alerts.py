"""Journey 7: a token close to expiry is on every page, and its alert email says who got it."""

from __future__ import annotations

import pytest
from django.core import mail
from playwright.sync_api import expect

from tokens.models import TokenAlert
from tokens.services import token_import, tokens_check_all

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_expiring_token_banner_on_every_page_and_alert_recorded_with_recipients(
    live_server, sign_in, portal_admin, operator, token_file, screenshot
):
    portal_admin.email = "it@springfield.example"
    portal_admin.save()
    token = token_import(
        file_bytes=token_file(location="Annex", days=20),
        apple_id="books@springfield.example",
        account_type="education",
    )
    tokens_check_all()  # the daily task
    (email,) = mail.outbox
    assert email.to == ["it@springfield.example"]
    assert "expires in 19 days" in email.subject or "expires in 20 days" in email.subject

    page = sign_in(operator)
    for url in (
        "/admin/",
        "/admin/ebooks/ebook/",
        "/admin/assignments/person/",
        "/admin/sync/syncrun/",
        f"/admin/tokens/vpptoken/{token.pk}/change/",
    ):
        page.goto(live_server.url + url)
        banner = page.locator(".portal-banner--warning")
        expect(banner).to_contain_text(f"Token “{token.name}” expires in")
        expect(banner).to_contain_text("Renew it before then.")
    expect(page.locator(".field-state_badge")).to_contain_text("Expiring soon")
    expect(page.locator(".field-alerts_sent")).to_contain_text("30 days left — 1 recipient")
    assert TokenAlert.objects.get(token=token, kind="30d").recipients == 1
    screenshot("journey7-expiring-token")
