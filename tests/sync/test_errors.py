"""Each Apple error family ends the run with the right token state and a plain message."""

from __future__ import annotations

import pytest
from django.core import mail

from sync.models import SyncRun
from tokens.crypto import decrypt
from tokens.models import VppToken

pytestmark = pytest.mark.django_db
State = SyncRun.State
TokenState = VppToken.State


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Apple's back-off waits in real time; the tests only need the retry decisions."""
    monkeypatch.setattr(
        "tokens.clients.BACKGROUND_RETRY",
        {"max_attempts": 3, "max_total_wait": 3.0, "timeout": (2.0, 5.0)},
    )


def test_expired_at_apple(apple, vpp_token, sync_now):
    apple.set_faults("expired")
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert run.error_number == 9621
    assert "expired" in run.error_message
    vpp_token.refresh_from_db()
    assert vpp_token.state == TokenState.EXPIRED
    assert vpp_token.last_sync_ok is False


def test_revoked_at_apple_alerts_admins(apple, vpp_token, sync_now, portal_admin):
    portal_admin.email = "admin@example.org"
    portal_admin.save()
    apple.revoke(decrypt(vpp_token.secret_ciphertext))
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert "revoked" in run.error_message
    vpp_token.refresh_from_db()
    assert vpp_token.state == TokenState.INVALID
    assert "no longer works" in mail.outbox[-1].subject


def test_claimed_by_another_product_stops_the_run(apple, vpp_token, sync_now):
    apple.claim_by_other(decrypt(vpp_token.secret_ciphertext))
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert "Another management product" in run.error_message
    assert run.phase == SyncRun.Phase.CLAIM
    vpp_token.refresh_from_db()
    assert vpp_token.state == TokenState.CLAIMED_ELSEWHERE
    assert not vpp_token.ebooks.exists()


def test_a_token_marked_claimed_elsewhere_is_not_synced_until_taken_back(
    apple, vpp_token, sync_now
):
    VppToken.objects.filter(pk=vpp_token.pk).update(state=TokenState.CLAIMED_ELSEWHERE)
    vpp_token.refresh_from_db()
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert "Take control" in run.error_message
    assert run.apple_requests == 0


def test_claim_appearing_mid_run(apple, vpp_token, sync_now):
    apple.set_faults("claimed:path=/users")
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert VppToken.objects.get().state == TokenState.CLAIMED_ELSEWHERE


def test_rate_limit_is_retried_and_the_run_succeeds(apple, vpp_token, sync_now):
    apple.set_faults("429:next=2:retry_after=0.1")
    run = sync_now(vpp_token)
    assert run.state == State.SUCCEEDED, run.error_message


def test_apple_down_after_books_leaves_a_partial_run(apple, vpp_token, sync_now):
    apple.set_faults("500:path=/users")
    run = sync_now(vpp_token)
    assert run.state == State.PARTIAL
    assert "temporary problem" in run.error_message or "internal error" in run.error_message
    assert vpp_token.ebooks.exists()
    vpp_token.refresh_from_db()
    assert vpp_token.state == TokenState.VALID  # a passing outage says nothing about the token


def test_garbage_from_apple_fails_cleanly(apple, vpp_token, sync_now):
    apple.set_faults("garbage:path=/assets")
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert run.error_message
    assert vpp_token.ebooks.count() == 0


def test_unexpected_bug_is_reported_without_details(apple, vpp_token, sync_now, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("sync.engine.ebook_services.ebooks_upsert", boom)
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert "internal error" in run.error_message
    assert "secret internals" not in run.error_message
