"""Token states follow the clock and Apple; each alert email goes out exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apple.errors import ClaimedElsewhereError, TokenRevokedError, TransientError
from apple.types import MdmInfo
from tokens.models import TokenAlert, VppToken
from tokens.services import (
    token_apple_error_record,
    token_check,
    token_import,
    tokens_check_all,
)

pytestmark = pytest.mark.django_db
State = VppToken.State


@pytest.fixture
def admin_with_email(portal_admin):
    portal_admin.email = "admin@springfield.example"
    portal_admin.save()
    return portal_admin


@pytest.fixture
def token(apple, token_file, admin_with_email):
    return token_import(
        file_bytes=token_file(days=90),
        apple_id="books@springfield.example",
        account_type="education",
    )


def _days_before_expiry(token: VppToken, days: float):
    return token.expires_at - timedelta(days=days)


def test_thresholds_fire_once_each_as_the_clock_moves(token):
    assert tokens_check_all(now=_days_before_expiry(token, 61))["alerts"] == 0
    sent_at = {}
    for days_left in (59.5, 45, 29.5, 29, 6.5, 3, 0.5, 0.25):
        now = _days_before_expiry(token, days_left)
        result = tokens_check_all(now=now)
        if result["alerts"]:
            sent_at[days_left] = mail.outbox[-1].subject
    assert sent_at == {
        59.5: f"Shelfkeeper: token {token.name} expires in 59 days",
        29.5: f"Shelfkeeper: token {token.name} expires in 29 days",
        6.5: f"Shelfkeeper: token {token.name} expires in 6 days",
        0.5: f"Shelfkeeper: token {token.name} expires in 0 days",
    }
    assert len(mail.outbox) == 4
    assert mail.outbox[0].to == ["admin@springfield.example"]
    assert set(TokenAlert.objects.values_list("kind", flat=True)) == {"60d", "30d", "7d", "1d"}


def test_crossing_several_thresholds_at_once_sends_one_email(token):
    tokens_check_all(now=_days_before_expiry(token, 5))
    assert len(mail.outbox) == 1
    assert "expires in 5 days" in mail.outbox[0].subject
    assert set(TokenAlert.objects.values_list("kind", flat=True)) == {"60d", "30d", "7d"}
    tokens_check_all(now=_days_before_expiry(token, 4))
    assert len(mail.outbox) == 1


def test_state_follows_the_clock(token):
    token_check(token=token, now=_days_before_expiry(token, 70))
    assert VppToken.objects.get().state == State.VALID
    token_check(token=token, now=_days_before_expiry(token, 50))
    assert VppToken.objects.get().state == State.EXPIRING_SOON
    token_check(token=token, now=token.expires_at + timedelta(minutes=1))
    assert VppToken.objects.get().state == State.EXPIRED
    assert mail.outbox[-1].subject == f"Shelfkeeper: token {token.name} no longer works"


def test_revoked_at_apple_alerts_at_once_and_only_once(apple, token, token_file):
    apple.revoke(apple_token_content(token))
    token_check(token=token)
    token.refresh_from_db()
    assert token.state == State.INVALID
    assert "revoked" in token.state_reason
    assert len(mail.outbox) == 1
    token_check(token=token)
    assert len(mail.outbox) == 1


def test_claim_by_another_product_is_detected_by_the_daily_check(apple, token):
    apple.claim_by_other(apple_token_content(token))
    tokens_check_all()
    token.refresh_from_db()
    assert token.state == State.CLAIMED_ELSEWHERE
    assert token.foreign_mdm_name == "Other Device Management Product"
    assert "managed by another product" in mail.outbox[-1].subject


def test_transient_apple_trouble_does_not_change_the_state(token):
    token_apple_error_record(token=token, error=TransientError("boom", http_status=503))
    token.refresh_from_db()
    assert token.state == State.VALID
    assert mail.outbox == []


def test_error_record_maps_families(token):
    token_apple_error_record(token=token, error=TokenRevokedError("x", error_number=9625))
    assert VppToken.objects.get().state == State.INVALID
    claim = ClaimedElsewhereError(MdmInfo(id="jamf-1", name="Jamf Pro", metadata=""))
    token_apple_error_record(token=token, error=claim)
    assert VppToken.objects.get().foreign_mdm_name == "Jamf Pro"


def test_one_bad_token_does_not_stop_the_others(apple, token, token_file, monkeypatch):
    other = token_import(
        file_bytes=token_file("Annex"), apple_id="a@b.example", account_type="education"
    )
    calls = []

    def flaky(*, token, now):
        calls.append(token.pk)
        if token.pk == other.pk:
            raise RuntimeError("database hiccup")

    monkeypatch.setattr("tokens.services.token_check", flaky)
    assert tokens_check_all(now=timezone.now())["failed"] == 1
    assert sorted(calls) == sorted([token.pk, other.pk])


def apple_token_content(token: VppToken) -> str:
    from tokens.crypto import decrypt

    return decrypt(token.secret_ciphertext)


def test_an_alert_that_reached_nobody_says_so_in_red(
    apple, token_file, portal_admin, portal_admin_client
):
    from django.urls import reverse

    token = token_import(
        file_bytes=token_file(days=90), apple_id="b@springfield.example", account_type="education"
    )
    tokens_check_all(now=_days_before_expiry(token, 5))
    assert mail.outbox == []
    assert TokenAlert.objects.get(kind="7d").recipients == 0

    page = portal_admin_client.get(reverse("admin:index")).content.decode()
    assert "portal-banner--error" in page
    assert "reached nobody: no portal admin has an email address" in page
    detail = portal_admin_client.get(reverse("admin:tokens_vpptoken_change", args=[token.pk]))
    assert detail.content.decode().count("reached nobody") == 2  # banner + the 7-day alert only

    portal_admin.email = "admin@springfield.example"
    portal_admin.save()
    page = portal_admin_client.get(reverse("admin:index")).content.decode()
    assert "reached nobody: no portal admin" not in page


def test_an_alert_that_went_out_lists_its_recipients(token, portal_admin_client):
    from django.urls import reverse

    tokens_check_all(now=_days_before_expiry(token, 5))
    page = portal_admin_client.get(reverse("admin:tokens_vpptoken_change", args=[token.pk]))
    assert "7 days left — 1 recipient" in page.content.decode()
    assert "reached nobody" not in page.content.decode()
