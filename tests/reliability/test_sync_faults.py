"""The sync's fault matrix against the simulator: every fault ends with the right run and token
state and a plain message, and once Apple recovers the database equals an undisturbed run's."""

from __future__ import annotations

import pytest

from assignments.models import AppleUser, License
from ebooks.models import EBook
from sync.models import SyncCursor, SyncRun
from tests.sync.conftest import snapshot
from tokens.crypto import decrypt
from tokens.models import VppToken
from tokens.services import token_take_control

pytestmark = pytest.mark.django_db
State = SyncRun.State
TokenState = VppToken.State


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Short timeouts and budgets: the decisions are what is tested, not the waiting."""
    monkeypatch.setattr(
        "tokens.clients.BACKGROUND_RETRY",
        {"max_attempts": 3, "max_total_wait": 2.0, "timeout": (0.5, 0.6)},
    )


# fault spec, states the run may end in, the token's state after, words in the message
FAULTS = [
    ("429:next=2:retry_after=0.1", {State.SUCCEEDED}, TokenState.VALID, ""),
    ("429:retry_after=30", {State.FAILED, State.PARTIAL}, TokenState.VALID, "too many requests"),
    ("500", {State.FAILED}, TokenState.VALID, "internal error"),
    ("503", {State.FAILED}, TokenState.VALID, "temporary"),
    ("500:path=/users", {State.PARTIAL}, TokenState.VALID, "internal error"),
    ("slow:delay=1.2:path=/assets", {State.FAILED}, TokenState.VALID, "temporary"),
    ("garbage:path=/assets", {State.FAILED}, TokenState.VALID, ""),
    ("expired", {State.FAILED}, TokenState.EXPIRED, "expired"),
    ("revoked", {State.FAILED}, TokenState.INVALID, "revoked"),
    ("claimed:path=/users", {State.FAILED}, TokenState.CLAIMED_ELSEWHERE, "Another"),
]


def _undisturbed(token, sync_now) -> dict:
    """What a clean full sync of the same Apple state leaves: wipe what sync wrote, run again."""
    License.objects.filter(token=token).delete()
    AppleUser.objects.filter(token=token).delete()
    EBook.objects.filter(token=token).delete()
    SyncCursor.objects.filter(token=token).delete()
    run = sync_now(token, full=True)
    assert run.state == State.SUCCEEDED, run.error_message
    return snapshot(token)


@pytest.mark.parametrize(("spec", "run_states", "token_state", "words"), FAULTS)
def test_fault_then_recovery(apple, vpp_token, sync_now, spec, run_states, token_state, words):
    apple.set_faults(spec)
    run = sync_now(vpp_token)
    assert run.state in run_states, (run.state, run.error_message)
    vpp_token.refresh_from_db()
    assert vpp_token.state == token_state
    if run.state != State.SUCCEEDED:
        message = run.error_message
        assert message and len(message) < 400 and "Traceback" not in message
        assert "Error(" not in message and "requests." not in message
        assert words.lower() in message.lower(), message
        assert vpp_token.last_sync_ok is False

    # Apple recovers (and, for a foreign claim, the admin takes the location back).
    apple.clear_faults()
    if token_state == TokenState.CLAIMED_ELSEWHERE:
        token_take_control(token=vpp_token)
    recovered = sync_now(vpp_token)
    assert recovered.state == State.SUCCEEDED, recovered.error_message
    vpp_token.refresh_from_db()
    assert vpp_token.state == TokenState.VALID
    after_fault = snapshot(vpp_token)
    assert after_fault["books"], "the recovered sync stored nothing"
    assert after_fault == _undisturbed(vpp_token, sync_now)


def test_claim_taken_mid_sync_writes_nothing_more_until_taken_back(apple, vpp_token, sync_now):
    apple.set_faults("claimed:path=/users")
    sync_now(vpp_token)
    apple.clear_faults()
    apple.claim_by_other(decrypt(vpp_token.secret_ciphertext))
    run = sync_now(vpp_token)
    assert run.state == State.FAILED
    assert "Take control" in run.error_message
    assert run.apple_requests == 0
