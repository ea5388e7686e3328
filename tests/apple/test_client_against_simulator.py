"""The real AppleClient against the simulator over loopback HTTP: an independent cross-check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from apple.client import AppleClient
from apple.errors import (
    AppleRequestError,
    ClaimedElsewhereError,
    RateLimitedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
    TransientError,
)
from apple.simulator import Simulator
from apple.types import AssetKey, MdmInfo, NewUser
from tests.apple.helpers import FakeClock

OUR_ID = "shelfkeeper-test-install"
OURS = MdmInfo(id=OUR_ID, name="Shelfkeeper", metadata="https://portal.example")
PRIDE = AssetKey("1104589231", "STDQ")
CALL_OF_THE_WILD = AssetKey("1104600123", "STDQ")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connect(
    simulator: Simulator, sim_token: str, fake_clock: FakeClock
) -> Callable[..., AppleClient]:
    """A client for the simulator on a fake clock; lookup_url comes from service config."""

    def make(token: str | None = None, **overrides: Any) -> AppleClient:
        options: dict[str, Any] = {
            "base_url": simulator.api_url,
            "our_mdm_id": OUR_ID,
            "sleep": fake_clock.sleep,
            "clock": fake_clock,
            "wall_clock": fake_clock.wall,
            "rng": lambda: 0.5,
            "timeout": (5.0, 10.0),
        }
        options.update(overrides)
        return AppleClient(token or sim_token, **options)

    return make


@pytest.fixture
def client(connect: Callable[..., AppleClient]) -> AppleClient:
    return connect()


def test_client_reads_every_page_of_assets_assignments_and_users(
    simulator: Simulator, sim_token: str, client: AppleClient
) -> None:
    simulator.page_size = 4

    assets = list(client.assets())
    assignments = list(client.assignments())
    users = list(client.users())

    expected_assets = {
        (a["adamId"], a["pricingParam"]) for a in _all(simulator, sim_token, "assets")
    }
    assert {a.key for a in assets} == expected_assets
    assert [(a.adam_id, a.client_user_id, a.serial_number) for a in assignments] == [
        (r["adamId"], r.get("clientUserId"), r.get("serialNumber"))
        for r in simulator.assignments(sim_token)
    ]
    assert [u.client_user_id for u in users] == [
        u["clientUserId"] for u in simulator.users(sim_token)
    ]
    assert client.request_count > 3 * 3  # several pages each, plus nothing else


def test_parallel_paging_yields_the_same_rows_in_order(
    simulator: Simulator, client: AppleClient
) -> None:
    simulator.add_assignments(client_token(client, simulator), 40)
    simulator.page_size = 5

    sequential = list(client.assignments())
    parallel = list(client.assignments(parallel=4))

    assert parallel == sequential and len(sequential) > 40


def test_incremental_read_returns_only_new_assignments(
    simulator: Simulator, sim_token: str, client: AppleClient
) -> None:
    simulator.page_size = 10
    full = client.assignments()
    rows = list(full)
    version = full.version_id
    assert version and rows

    simulator.add_assignments(sim_token, 25)
    changes = list(client.assignments(since_version_id=version))

    assert len(changes) == 25
    assert all(c.client_user_id.startswith("shelfkeeper-") for c in changes)
    assert list(client.assignments(since_version_id=client.assignments().version_id)) == []


def test_incremental_users_show_new_status_after_invitation_accepted(
    simulator: Simulator, client: AppleClient
) -> None:
    client.set_client_config(mdm_info=OURS)
    client.create_users([NewUser(client_user_id="sk-inv", email="inv@school.example")])
    [user] = list(client.users(client_user_id="sk-inv"))
    version = client.users().version_id
    invitation = client.service_config().invitation_url(user.invite_code)

    assert requests.get(invitation, timeout=10).status_code == 200
    [changed] = list(client.users(since_version_id=version))

    assert (changed.client_user_id, changed.status) == ("sk-inv", "Associated")


def test_writes_complete_as_events(simulator: Simulator, client: AppleClient) -> None:
    client.set_client_config(mdm_info=OURS)
    users = [
        NewUser(client_user_id=f"sk-{i}", managed_apple_id=f"u{i}@appleid.example")
        for i in range(3)
    ]

    [created] = client.create_users(users)
    [associated] = client.associate(
        assets=[CALL_OF_THE_WILD], client_user_ids=[u.client_user_id for u in users]
    )

    assert client.event_status(created.event_id).status == "COMPLETE"
    status = client.event_status(associated.event_id)
    assert (status.status, status.event_type, status.num_completed) == ("COMPLETE", "ASSOCIATE", 3)
    [asset] = list(client.assets(adam_id=CALL_OF_THE_WILD.adam_id))
    assert asset.assigned_count == 3


def test_client_splits_writes_by_the_simulators_limits(
    simulator: Simulator, client: AppleClient
) -> None:
    simulator.limits.update(maxUsers=2, maxClientUserIds=2)
    client.set_client_config(mdm_info=OURS)
    users = [
        NewUser(client_user_id=f"sk-{i}", managed_apple_id=f"u{i}@appleid.example")
        for i in range(5)
    ]

    created = client.create_users(users)
    associated = client.associate(assets=[PRIDE], client_user_ids=[u.client_user_id for u in users])

    assert len(created) == 3 and len(associated) == 3
    assert all(client.event_status(e.event_id).status == "COMPLETE" for e in created + associated)


def test_event_pending_then_complete_with_a_delay(
    simulator: Simulator, client: AppleClient
) -> None:
    clock = {"now": 1_900_000_000.0}
    simulator.clock = lambda: clock["now"]
    simulator.event_delay = 60
    token = simulator.issue_token(org="Late Org", location="Late")
    late = AppleClient(token, base_url=simulator.api_url, sleep=lambda s: None)

    [event] = late.create_users([NewUser(client_user_id="sk-late")])
    assert late.event_status(event.event_id).status == "PENDING"
    clock["now"] += 61

    assert late.event_status(event.event_id).is_done


def test_partial_failure_when_licenses_run_out(
    simulator: Simulator, sim_token: str, client: AppleClient
) -> None:
    simulator.change_license_count(sim_token, CALL_OF_THE_WILD.adam_id, "STDQ", -4999)  # 1 left
    client.set_client_config(mdm_info=OURS)
    client.create_users(
        [
            NewUser(client_user_id=c, managed_apple_id=f"{c}@appleid.example")
            for c in ("sk-a", "sk-b")
        ]
    )

    [event] = client.associate(
        assets=[CALL_OF_THE_WILD], client_user_ids=["sk-a", "sk-b", "sk-ghost"]
    )
    status = client.event_status(event.event_id)

    assert (status.status, status.num_requested, status.num_completed) == ("FAILED", 3, 1)
    by_number = {f.error_number: f for f in status.failures}
    assert by_number[9709].client_user_ids == ("sk-b",)
    assert by_number[9709].assets == (CALL_OF_THE_WILD,)
    assert by_number[9609].client_user_ids == ("sk-ghost",)


def test_disassociating_a_book_is_a_request_error_9706(client: AppleClient) -> None:
    client.set_client_config(mdm_info=OURS)

    with pytest.raises(AppleRequestError) as caught:
        client.disassociate(assets=[PRIDE], client_user_ids=["other-mdm-0001"])

    assert caught.value.error_number == 9706


def test_429_is_retried_after_retry_after(
    simulator: Simulator, client: AppleClient, fake_clock: FakeClock
) -> None:
    simulator.set_faults("429:next=2:retry_after=3")

    assert list(client.assets())
    assert fake_clock.sleeps == [3.0, 3.0]


def test_429_without_end_gives_up_with_rate_limited_error(simulator: Simulator, connect) -> None:
    simulator.set_faults("429:retry_after=1")

    with pytest.raises(RateLimitedError):
        list(connect(max_attempts=3).assets())


@pytest.mark.parametrize(
    "spec", ["500:next=1", "500:next=1:retry_after=2", "503:next=1", "503:next=1:retry_after=2"]
)
def test_server_errors_on_reads_are_retried(
    simulator: Simulator, client: AppleClient, fake_clock: FakeClock, spec: str
) -> None:
    simulator.set_faults(spec)

    assert list(client.users())
    assert len(fake_clock.sleeps) == 1
    if "retry_after" in spec:
        assert fake_clock.sleeps == [2.0]


def test_malformed_json_on_a_read_is_retried(
    simulator: Simulator, client: AppleClient, fake_clock: FakeClock
) -> None:
    simulator.set_faults("garbage:next=1")

    assert list(client.assets())
    assert len(fake_clock.sleeps) == 1


def test_malformed_json_on_a_write_is_not_resent(
    simulator: Simulator, sim_token: str, client: AppleClient
) -> None:
    client.set_client_config(mdm_info=OURS)
    simulator.set_faults("garbage:next=1:method=POST")

    with pytest.raises(TransientError) as caught:
        client.create_users([NewUser(client_user_id="sk-once")])

    assert caught.value.maybe_queued
    assert [u["clientUserId"] for u in simulator.users(sim_token)].count("sk-once") == 1


def test_slow_answer_past_the_timeout_is_retried(
    simulator: Simulator, connect, fake_clock: FakeClock
) -> None:
    simulator.set_faults("slow:delay=0.5:next=1")

    assert list(connect(timeout=(2.0, 0.2)).assets())
    assert len(fake_clock.sleeps) == 1


def test_expired_revoked_and_forged_tokens_raise_auth_errors(
    simulator: Simulator, sim_token: str, connect
) -> None:
    with pytest.raises(TokenExpiredError):
        connect(simulator.issue_token(expired=True)).client_config()
    forged = Simulator(catalog={"items": []}, secret="other").issue_token()
    with pytest.raises(TokenInvalidError):
        connect(forged).client_config()
    simulator.revoke(sim_token)
    with pytest.raises(TokenRevokedError):
        connect().client_config()


@pytest.mark.parametrize(
    ("spec", "error"), [("expired", TokenExpiredError), ("revoked", TokenRevokedError)]
)
def test_token_faults_raise_auth_errors(
    simulator: Simulator, client: AppleClient, spec: str, error: type
) -> None:
    simulator.set_faults(f"{spec}:next=1")

    with pytest.raises(error):
        list(client.assets())


def test_foreign_claim_raises_claimed_elsewhere(
    simulator: Simulator, sim_token: str, client: AppleClient
) -> None:
    client.set_client_config(mdm_info=OURS)
    assert list(client.assets())

    simulator.claim_by_other(sim_token)

    with pytest.raises(ClaimedElsewhereError) as caught:
        list(client.assets())
    assert caught.value.mdm_info.id.startswith("other-mdm")
    with pytest.raises(ClaimedElsewhereError):
        client.create_users([NewUser(client_user_id="sk-no")])
    assert simulator.user(sim_token, "sk-no") is None


def test_claimed_fault_raises_claimed_elsewhere(simulator: Simulator, client: AppleClient) -> None:
    client.set_client_config(mdm_info=OURS)
    simulator.set_faults("claimed:next=1")

    with pytest.raises(ClaimedElsewhereError):
        client.client_config()


def test_taking_control_back_with_force(
    simulator: Simulator, sim_token: str, client: AppleClient
) -> None:
    simulator.claim_by_other(sim_token)

    config = client.set_client_config(mdm_info=OURS, force=True)

    assert config.mdm_info == OURS
    assert list(client.assets())


def test_lookup_metadata_through_service_config_url(client: AppleClient) -> None:
    found = client.lookup_metadata([PRIDE.adam_id, "123"])

    assert set(found) == {PRIDE.adam_id}
    book = found[PRIDE.adam_id]
    assert (book.title, book.author, book.kind) == ("Pride and Prejudice", "Jane Austen", "ebook")
    assert (
        book.artwork_url
        and requests.get(book.artwork_url.format(w=60, h=90, f="png"), timeout=10).ok
    )


def client_token(client: AppleClient, simulator: Simulator) -> str:
    """The uId of the client's location (add_assignments accepts a uId)."""
    return client.client_config().uid


def _all(simulator: Simulator, token: str, path: str) -> list[dict[str, Any]]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rows, index = [], 0
    while True:
        body = session.get(
            f"{simulator.api_url}/{path}", params={"pageIndex": index}, timeout=10
        ).json()
        rows += body[path]
        if "nextPageIndex" not in body:
            return rows
        index = body["nextPageIndex"]
