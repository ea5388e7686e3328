"""Reads: service config (and its cache), client config, filters, typed results, event status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from responses import matchers

from apple import AppleClient, AssetKey, MdmInfo
from apple.client import SERVICE_CONFIG_TTL
from tests.apple.helpers import AUTH, BASE, OUR_MDM_ID, TOKEN, load

pytestmark = pytest.mark.usefixtures("token_never_logged")


def test_service_config_parses_limits_urls_and_error_codes(rsps, api):
    rsps.get(f"{BASE}/service/config", json=load("service_config.json"))

    config = api.service_config()

    assert config.limits.max_assets == 25
    assert config.limits.max_users == 100
    assert config.limits.max_client_user_ids == 1000
    assert config.limits.max_serial_numbers == 1000
    assert config.limits.max_mdm_metadata_length == 255
    assert config.error_codes[9621].startswith("Token has expired")
    assert "ASSET_COUNT" in config.notification_types
    assert config.urls["contentMetadataLookup"].endswith("/wa/lookup")


def test_invitation_url_fills_in_the_invite_code(rsps, api):
    rsps.get(f"{BASE}/service/config", json=load("service_config.json"))

    url = api.service_config().invitation_url("f551b37d")

    assert "inviteCode=f551b37d&mt=8" in url


def test_service_config_is_cached_across_clients_for_the_same_base_url(rsps, make_client, clock):
    call = rsps.get(f"{BASE}/service/config", json=load("service_config.json"))

    make_client().service_config()
    clock.advance(SERVICE_CONFIG_TTL - 1)
    make_client().service_config()

    assert call.call_count == 1


def test_service_config_is_fetched_again_once_the_cache_expires(rsps, api, clock):
    call = rsps.get(f"{BASE}/service/config", json=load("service_config.json"))

    api.service_config()
    clock.advance(SERVICE_CONFIG_TTL + 1)
    api.service_config()

    assert call.call_count == 2


def test_service_config_cache_is_per_base_url(rsps, make_client):
    first = rsps.get(f"{BASE}/service/config", json=load("service_config.json"))
    other = rsps.get("https://other.test/mdm/v2/service/config", json=load("service_config.json"))

    make_client().service_config()
    make_client(base_url="https://other.test/mdm/v2").service_config()

    assert (first.call_count, other.call_count) == (1, 1)


def test_requests_send_the_whole_token_file_as_bearer(rsps, api):
    rsps.get(
        f"{BASE}/client/config",
        json=load("client_config.json"),
        match=[matchers.header_matcher(AUTH)],
    )

    api.client_config()  # an unmatched header would raise ConnectionError


def test_token_file_trailing_newline_is_not_sent(rsps, make_client, clock):
    rsps.get(
        f"{BASE}/client/config",
        json=load("client_config.json"),
        match=[matchers.header_matcher(AUTH)],
    )

    AppleClient(TOKEN + "\n", base_url=BASE, sleep=clock.sleep, clock=clock).client_config()


def test_empty_token_is_refused():
    with pytest.raises(ValueError, match="empty"):
        AppleClient("  \n", base_url=BASE)


def test_client_config_is_parsed_into_snake_case_fields(rsps, api):
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    config = api.client_config()

    assert config.location_name == "Lakeside High School"
    assert config.country_code == "US"
    assert config.default_platform == "volumestore"
    assert config.website_url == "https://school.apple.com"
    assert config.mdm_info == MdmInfo(
        id=OUR_MDM_ID,
        name="Shelfkeeper (lakeside.example.org)",
        metadata="https://lakeside.example.org",
    )
    assert config.token_expiration_date == datetime(2030, 11, 8, 22, 33, 22, tzinfo=UTC)
    assert config.uid == "2049025000431439"
    assert config.subscribed_notification_types == ("ASSET_MANAGEMENT", "USER_MANAGEMENT")


def test_client_config_repr_hides_the_notification_secret(rsps, api):
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    config = api.client_config()

    assert config.notification_auth_token == "notification-shared-secret-42"
    assert "notification-shared-secret-42" not in repr(config)


def test_client_config_accepts_colon_offsets_in_expiry(rsps, api):
    body = load("client_config.json", tokenExpirationDate="2030-11-08T23:33:22+01:00")
    rsps.get(f"{BASE}/client/config", json=body)

    expiry = api.client_config().token_expiration_date

    assert expiry == datetime(2030, 11, 8, 22, 33, 22, tzinfo=UTC)


def test_assets_send_every_filter_in_the_query_string(rsps, api):
    query = {
        "pageIndex": "0",
        "productType": "Book",
        "pricingParam": "PLUS",
        "adamId": "1462937447",
        "revocable": "false",
        "deviceAssignable": "false",
        "minAssignedCount": "1",
        "maxAssignedCount": "500",
        "minAvailableCount": "0",
        "maxAvailableCount": "10",
        "unlimited": "false",
    }
    rsps.get(
        f"{BASE}/assets",
        json=load("assets_page1.json", currentPageIndex=0),
        match=[matchers.query_param_matcher(query), matchers.header_matcher(AUTH)],
    )

    assets = api.assets(
        product_type="Book",
        pricing_param="PLUS",
        adam_id="1462937447",
        revocable=False,
        device_assignable=False,
        min_assigned_count=1,
        max_assigned_count=500,
        min_available_count=0,
        max_available_count=10,
        unlimited=False,
    )

    assert len(list(assets)) == 1


def test_assets_are_typed_and_keyed_by_adam_id_and_pricing_param(rsps, api):
    rsps.get(
        f"{BASE}/assets",
        json=load("assets_page0.json", nextPageIndex=None, totalPages=1),
        match=[matchers.query_param_matcher({"pageIndex": "0", "productType": "Book"})],
    )

    assets = list(api.assets(product_type="Book"))

    assert [a.key for a in assets] == [
        AssetKey("1462937447", "STDQ"),
        AssetKey("1462937447", "PLUS"),
    ]
    stdq = assets[0]
    assert stdq.product_type == "Book"
    assert (stdq.assigned_count, stdq.available_count, stdq.total_count) == (120, 30, 150)
    assert stdq.revocable is False
    assert stdq.device_assignable is False
    assert stdq.supported_platforms == ("iOS", "macOS")
    assert stdq.unlimited is False


def test_asset_with_int32_max_total_count_is_flagged_unlimited(rsps, api):
    rsps.get(f"{BASE}/assets", json=load("assets_page1.json", currentPageIndex=0))

    (asset,) = list(api.assets())

    assert asset.total_count == 2_147_483_647
    assert asset.unlimited is True


def test_unlimited_assets_list_is_returned_flagged_and_without_counts(rsps, api):
    rsps.get(
        f"{BASE}/assets",
        json=load("assets_unlimited.json"),
        match=[matchers.query_param_matcher({"pageIndex": "0", "unlimited": "true"})],
    )

    limited, unlimited = list(api.assets(unlimited=True))

    assert limited.unlimited is False
    assert unlimited.key == AssetKey("1091234567", "STDQ")
    assert unlimited.unlimited is True
    assert unlimited.total_count is None


def test_assignments_send_filters_and_since_version_id(rsps, api):
    query = {
        "pageIndex": "0",
        "adamId": "1462937447",
        "pricingParam": "STDQ",
        "clientUserId": "9b1f5d3e",
        "serialNumber": "DMQX7A1BHP5X",
        "sinceVersionId": "a3e8fe5b",
        "excludeInactiveUsers": "true",
        "includeUserState": "true",
    }
    rsps.get(
        f"{BASE}/assignments",
        json=load("assignments_page0.json"),
        match=[matchers.query_param_matcher(query)],
    )

    paged = api.assignments(
        adam_id="1462937447",
        pricing_param="STDQ",
        client_user_id="9b1f5d3e",
        serial_number="DMQX7A1BHP5X",
        since_version_id="a3e8fe5b",
        exclude_inactive_users=True,
        include_user_state=True,
    )

    assert len(list(paged)) == 3


def test_assignments_are_typed_for_users_and_devices(rsps, api):
    rsps.get(f"{BASE}/assignments", json=load("assignments_page0.json"))

    user_row, state_row, device_row = list(api.assignments())

    assert user_row.key == AssetKey("1462937447", "STDQ")
    assert user_row.client_user_id == "9b1f5d3e-4c1a-4c44-9d8e-1a2b3c4d5e6f"
    assert user_row.serial_number is None
    assert (state_row.user_status, state_row.id_hash) == (
        "Associated",
        "nRH/3SrL1aL3/BNUkcJJk4MJRtk=",
    )
    assert device_row.serial_number == "DMQX7A1BHP5X"
    assert device_row.client_user_id is None


def test_listings_as_json_keep_apple_objects_and_drop_what_is_not_one(rsps, api):
    page = load("assignments_page0.json")
    page["assignments"].append("not an object")
    rsps.get(f"{BASE}/assignments", json=page)
    rsps.get(f"{BASE}/users", json={"users": [{"clientUserId": "u1", "status": "Registered"}, 7]})

    assert list(api.assignments(as_json=True)) == page["assignments"][:3]
    assert list(api.users(as_json=True)) == [{"clientUserId": "u1", "status": "Registered"}]


def test_users_send_since_version_id_active_only_and_client_user_id(rsps, api):
    query = {
        "pageIndex": "0",
        "sinceVersionId": "9a0b1c2d",
        "activeOnly": "true",
        "clientUserId": "9b1f5d3e",
    }
    rsps.get(
        f"{BASE}/users",
        json=load("users_page0.json"),
        match=[matchers.query_param_matcher(query)],
    )

    users = list(
        api.users(since_version_id="9a0b1c2d", active_only=True, client_user_id="9b1f5d3e")
    )

    associated, registered = users
    assert associated.status == "Associated"
    assert associated.id_hash == "nRH/3SrL1aL3/BNUkcJJk4MJRtk="
    assert associated.email == "ada@lakeside.example.org"
    assert registered.status == "Registered"
    assert registered.invite_code == "f551b37da07146628e8dcbe0111f0364"


def test_event_status_reports_progress_and_failed_items(rsps, api):
    rsps.get(
        f"{BASE}/status",
        json=load("status_failed.json"),
        match=[matchers.query_param_matcher({"eventId": "4a8b6c2e"})],
    )

    status = api.event_status("4a8b6c2e")

    assert status.event_id == "4a8b6c2e"
    assert (status.status, status.event_type) == ("FAILED", "ASSOCIATE")
    assert (status.num_requested, status.num_completed) == (16, 14)
    assert status.is_done
    (failure,) = status.failures
    assert failure.error_number == 9709
    assert failure.assets == (AssetKey("1462937447", "STDQ"),)
    assert len(failure.client_user_ids) == 2


def test_pending_event_is_not_done(rsps, api):
    body = load("status_failed.json", eventStatus="PENDING", failures=[], numCompleted=3)
    rsps.get(f"{BASE}/status", json=body)

    assert not api.event_status("4a8b6c2e").is_done


def test_every_request_uses_the_configured_timeout(rsps, make_client):
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))
    rsps.get(f"{BASE}/assets", json=load("assets_page1.json", currentPageIndex=0))

    api = make_client(timeout=(3.0, 7.0))
    api.client_config()
    list(api.assets())

    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [(3.0, 7.0), (3.0, 7.0)]


def test_request_count_counts_http_requests(rsps, api):
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))
    rsps.get(f"{BASE}/assets", json=load("assets_page1.json", currentPageIndex=0))

    api.client_config()
    list(api.assets())

    assert api.request_count == 2


def test_paged_calls_send_nothing_until_iterated(rsps, api):
    api.assets()
    api.assignments()
    api.users()

    assert api.request_count == 0
    assert len(rsps.calls) == 0
