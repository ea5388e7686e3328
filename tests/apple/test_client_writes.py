"""Writes: JSON bodies, splitting by Apple's limits, and one EventRef per request."""

from __future__ import annotations

import json

import pytest
from responses import matchers

from apple import AppleRequestError, AssetKey, MdmInfo, NewUser
from apple.client import SERVICE_CONFIG_TTL
from tests.apple.helpers import AUTH, BASE, OUR_MDM_ID, apple_error, load, service_config

pytestmark = pytest.mark.usefixtures("token_never_logged", "with_our_client_config")

JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}


def bodies(rsps, path: str) -> list[dict]:
    """JSON bodies POSTed to `path`, in order."""
    return [
        json.loads(c.request.body)
        for c in rsps.calls
        if c.request.method == "POST" and c.request.url == f"{BASE}{path}"
    ]


def users(count: int) -> list[NewUser]:
    return [NewUser(client_user_id=f"user-{n}") for n in range(count)]


def ids(count: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def books(count: int) -> list[AssetKey]:
    return [AssetKey(str(1_000_000 + n), "STDQ") for n in range(count)]


@pytest.fixture
def events(rsps):
    """Every write endpoint answers with an EventResponse."""
    for path in ("/users/create", "/users/update", "/users/retire"):
        rsps.post(f"{BASE}{path}", json=load("event_response.json"))
    for path in ("/assets/associate", "/assets/disassociate"):
        rsps.post(f"{BASE}{path}", json=load("event_response.json"))


def test_set_client_config_posts_mdm_info_as_json(rsps, api, with_service_config):
    mdm = MdmInfo(id=OUR_MDM_ID, name="Shelfkeeper", metadata="https://lakeside.example.org")
    rsps.post(
        f"{BASE}/client/config",
        json=load("client_config.json"),
        match=[
            matchers.header_matcher(JSON_HEADERS),
            matchers.json_params_matcher({"mdmInfo": mdm.to_json()}),
        ],
    )

    config = api.set_client_config(mdm_info=mdm)

    assert config.mdm_info.id == OUR_MDM_ID


def test_set_client_config_refuses_an_id_other_than_ours(api):
    with pytest.raises(ValueError, match="our_mdm_id"):
        api.set_client_config(mdm_info=MdmInfo(id="someone-else", name="x", metadata="y"))


def test_create_users_posts_json_with_bearer_and_returns_the_event(rsps, api, with_service_config):
    new = [
        NewUser(client_user_id="u-1", email="ada@lakeside.example.org"),
        NewUser(client_user_id="u-2", managed_apple_id="grace@lakeside.appleid.com"),
    ]
    expected = {
        "users": [
            {"clientUserId": "u-1", "email": "ada@lakeside.example.org"},
            {"clientUserId": "u-2", "managedAppleId": "grace@lakeside.appleid.com"},
        ]
    }
    rsps.post(
        f"{BASE}/users/create",
        json=load("event_response.json"),
        match=[matchers.header_matcher(JSON_HEADERS), matchers.json_params_matcher(expected)],
    )

    (event,) = api.create_users(new)

    assert event.event_id == "4a8b6c2e-5d1f-4e3a-9b7c-0d1e2f3a4b5c"
    assert event.client_user_ids == ("u-1", "u-2")
    assert event.token_expiration_date.year == 2030


def test_create_users_splits_2501_users_into_requests_of_max_users(rsps, api, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxUsers=1000))

    result = api.create_users(users(2501))

    assert [len(b["users"]) for b in bodies(rsps, "/users/create")] == [1000, 1000, 501]
    assert len(result) == 3
    assert result[2].client_user_ids == tuple(f"user-{n}" for n in range(2000, 2501))


def test_batch_sizes_follow_new_limits_once_the_cached_config_expires(rsps, api, clock, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxUsers=1000))
    rsps.get(f"{BASE}/service/config", json=service_config(maxUsers=400))

    api.create_users(users(2501))  # 3 requests at 1000
    clock.advance(SERVICE_CONFIG_TTL - 10)
    api.create_users(users(2501))  # cached: still 3 requests
    clock.advance(20)
    api.create_users(users(2501))  # re-read: 7 requests at 400

    sizes = [len(b["users"]) for b in bodies(rsps, "/users/create")]
    assert sizes == [1000, 1000, 501] * 2 + [400] * 6 + [101]


def test_update_users_is_split_by_max_users(rsps, api, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxUsers=100))

    result = api.update_users(users(250))

    assert [len(b["users"]) for b in bodies(rsps, "/users/update")] == [100, 100, 50]
    assert len(result) == 3


def test_retire_users_sends_only_client_user_ids(rsps, api, with_service_config, events):
    api.retire_users(["u-1", "u-2"])

    assert bodies(rsps, "/users/retire") == [
        {"users": [{"clientUserId": "u-1"}, {"clientUserId": "u-2"}]}
    ]


def test_associate_sends_assets_with_pricing_and_client_user_ids(rsps, api, with_service_config):
    expected = {
        "assets": [{"adamId": "1462937447", "pricingParam": "PLUS"}],
        "clientUserIds": ["u-1", "u-2"],
    }
    rsps.post(
        f"{BASE}/assets/associate",
        json=load("event_response.json"),
        match=[matchers.header_matcher(JSON_HEADERS), matchers.json_params_matcher(expected)],
    )

    (event,) = api.associate(
        assets=[AssetKey("1462937447", "PLUS")], client_user_ids=["u-1", "u-2"]
    )

    assert event.assets == (AssetKey("1462937447", "PLUS"),)
    assert event.client_user_ids == ("u-1", "u-2")


def test_associate_splits_2501_users_by_max_client_user_ids(rsps, api, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxClientUserIds=1000))

    result = api.associate(assets=books(1), client_user_ids=ids(2501))

    sent = bodies(rsps, "/assets/associate")
    assert [len(b["clientUserIds"]) for b in sent] == [1000, 1000, 501]
    assert len(result) == 3


def test_associate_splits_by_max_assets_times_max_client_user_ids(rsps, api, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxAssets=25, maxClientUserIds=1000))

    result = api.associate(assets=books(30), client_user_ids=ids(2501))

    sent = bodies(rsps, "/assets/associate")
    assert len(sent) == len(result) == 6  # 2 asset chunks x 3 user chunks
    assert [(len(b["assets"]), len(b["clientUserIds"])) for b in sent] == [
        (25, 1000),
        (25, 1000),
        (25, 501),
        (5, 1000),
        (5, 1000),
        (5, 501),
    ]
    # Every (asset, user) pair is sent exactly once.
    pairs = {(a["adamId"], u) for b in sent for a in b["assets"] for u in b["clientUserIds"]}
    assert len(pairs) == 30 * 2501


def test_associate_splits_serial_numbers_by_max_serial_numbers(rsps, api, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxSerialNumbers=2))

    api.associate(assets=books(1), serial_numbers=ids(5, "SERIAL"))

    sent = bodies(rsps, "/assets/associate")
    assert [b["serialNumbers"] for b in sent] == [
        ["SERIAL-0", "SERIAL-1"],
        ["SERIAL-2", "SERIAL-3"],
        ["SERIAL-4"],
    ]
    assert all("clientUserIds" not in b for b in sent)


def test_disassociate_is_split_like_associate(rsps, api, events):
    rsps.get(f"{BASE}/service/config", json=service_config(maxAssets=2, maxClientUserIds=3))

    result = api.disassociate(assets=books(3), client_user_ids=ids(4))

    sent = bodies(rsps, "/assets/disassociate")
    assert [(len(b["assets"]), len(b["clientUserIds"])) for b in sent] == [
        (2, 3),
        (2, 1),
        (1, 3),
        (1, 1),
    ]
    assert len(result) == 4


def test_duplicate_ids_are_sent_once(rsps, api, with_service_config, events):
    api.associate(
        assets=[AssetKey("1", "STDQ"), ("1", "STDQ")], client_user_ids=["u-1", "u-1", "u-2"]
    )

    (body,) = bodies(rsps, "/assets/associate")
    assert body == {
        "assets": [{"adamId": "1", "pricingParam": "STDQ"}],
        "clientUserIds": ["u-1", "u-2"],
    }


def test_writes_with_nothing_to_send_make_no_request(rsps, api):
    assert api.create_users([]) == []
    assert api.retire_users([]) == []
    assert api.associate(assets=books(2), client_user_ids=[]) == []
    assert api.disassociate(assets=[], client_user_ids=["u-1"]) == []

    assert api.request_count == 0


def test_a_failed_batch_keeps_the_events_already_queued(rsps, api):
    rsps.get(f"{BASE}/service/config", json=service_config(maxUsers=2))
    rsps.post(f"{BASE}/users/create", json=load("event_response.json", eventId="event-1"))
    rsps.post(f"{BASE}/users/create", json=apple_error(9602), status=400)

    with pytest.raises(AppleRequestError) as caught:
        api.create_users(users(5))

    assert [e.event_id for e in caught.value.partial_events] == ["event-1"]
    assert caught.value.partial_events[0].client_user_ids == ("user-0", "user-1")
    assert len(bodies(rsps, "/users/create")) == 2  # the third batch is not attempted
