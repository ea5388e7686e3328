"""mdmInfo claims: detect another MDM on any response and never write over its claim."""

from __future__ import annotations

import pytest

from apple import AssetKey, ClaimedElsewhereError, MdmInfo, NewUser
from tests.apple.helpers import BASE, OUR_MDM_ID, load

FOREIGN = MdmInfo(id="acme-mdm-0042", name="Acme MDM", metadata="acme.example.com")
OURS = MdmInfo(id=OUR_MDM_ID, name="Shelfkeeper", metadata="https://lakeside.example.org")
BOOK = [AssetKey("1462937447", "STDQ")]

pytestmark = pytest.mark.usefixtures("token_never_logged")


def posts(rsps) -> list[str]:
    return [c.request.url for c in rsps.calls if c.request.method == "POST"]


def gets(rsps, path: str) -> int:
    return sum(
        1
        for c in rsps.calls
        if c.request.method == "GET" and c.request.url.split("?")[0] == f"{BASE}{path}"
    )


@pytest.fixture
def claimed_elsewhere(rsps) -> None:
    rsps.get(f"{BASE}/client/config", json=load("client_config_other_mdm.json"))


@pytest.fixture
def event(rsps) -> None:
    rsps.post(f"{BASE}/assets/associate", json=load("event_response.json"))
    rsps.post(f"{BASE}/users/create", json=load("event_response.json"))


def test_a_read_naming_another_mdm_raises_claimed_elsewhere(rsps, api):
    body = load("assets_page0.json", mdmInfo=FOREIGN.to_json())
    rsps.get(f"{BASE}/assets", json=body)

    with pytest.raises(ClaimedElsewhereError) as caught:
        list(api.assets())

    assert caught.value.mdm_info == FOREIGN
    assert api.last_mdm_info == FOREIGN


def test_a_write_answer_naming_another_mdm_raises_claimed_elsewhere(
    rsps, api, with_service_config, with_our_client_config
):
    rsps.post(
        f"{BASE}/assets/associate", json=load("event_response.json", mdmInfo=FOREIGN.to_json())
    )

    with pytest.raises(ClaimedElsewhereError):
        api.associate(assets=BOOK, client_user_ids=["u-1"])


def test_responses_with_our_mdm_info_or_none_pass(rsps, api):
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))
    rsps.get(f"{BASE}/users", json=load("users_page0.json", mdmInfo=None))

    api.client_config()
    assert api.last_mdm_info.id == OUR_MDM_ID
    list(api.users())
    assert api.last_mdm_info is None


def test_first_write_checks_client_config_before_writing(
    rsps, api, with_service_config, with_our_client_config, event
):
    api.associate(assets=BOOK, client_user_ids=["u-1"])

    urls = [c.request.url.split("?")[0] for c in rsps.calls]
    assert urls.index(f"{BASE}/client/config") < urls.index(f"{BASE}/assets/associate")


def test_write_claimed_elsewhere_is_refused_without_sending_it(
    rsps, api, with_service_config, claimed_elsewhere, event
):
    with pytest.raises(ClaimedElsewhereError) as caught:
        api.associate(assets=BOOK, client_user_ids=["u-1"])

    assert caught.value.mdm_info.name == "Acme MDM"
    assert posts(rsps) == []


def test_a_verified_read_lets_writes_skip_the_extra_check(rsps, api, with_service_config, event):
    rsps.get(f"{BASE}/assets", json=load("assets_page1.json", currentPageIndex=0))

    list(api.assets())
    api.create_users([NewUser(client_user_id="u-1")])

    assert gets(rsps, "/client/config") == 0
    assert len(posts(rsps)) == 1


def test_after_a_foreign_claim_every_write_checks_again(rsps, api, with_service_config, event):
    rsps.get(f"{BASE}/assets", json=load("assets_page0.json", mdmInfo=FOREIGN.to_json()))
    rsps.get(f"{BASE}/client/config", json=load("client_config_other_mdm.json"))

    with pytest.raises(ClaimedElsewhereError):
        list(api.assets())
    with pytest.raises(ClaimedElsewhereError):
        api.create_users([NewUser(client_user_id="u-1")])

    assert gets(rsps, "/client/config") == 1
    assert posts(rsps) == []


def test_writes_resume_once_client_config_shows_our_claim_again(
    rsps, api, with_service_config, event
):
    rsps.get(f"{BASE}/assets", json=load("assets_page0.json", mdmInfo=FOREIGN.to_json()))
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    with pytest.raises(ClaimedElsewhereError):
        list(api.assets())
    api.create_users([NewUser(client_user_id="u-1")])

    assert gets(rsps, "/client/config") == 1
    assert posts(rsps) == [f"{BASE}/users/create"]


def test_unforced_client_config_write_is_refused_over_a_foreign_claim(rsps, api, claimed_elsewhere):
    with pytest.raises(ClaimedElsewhereError):
        api.set_client_config(mdm_info=OURS)

    assert posts(rsps) == []


def test_forced_client_config_write_takes_control_from_another_mdm(
    rsps, api, claimed_elsewhere, event
):
    rsps.post(f"{BASE}/client/config", json=load("client_config.json"))
    with pytest.raises(ClaimedElsewhereError):
        api.client_config()

    config = api.set_client_config(mdm_info=OURS, force=True)

    assert config.mdm_info.id == OUR_MDM_ID
    assert posts(rsps) == [f"{BASE}/client/config"]


def test_after_taking_control_writes_go_through_without_another_check(
    rsps, api, with_service_config, event
):
    rsps.post(f"{BASE}/client/config", json=load("client_config.json"))

    api.set_client_config(mdm_info=OURS, force=True)
    api.associate(assets=BOOK, client_user_ids=["u-1"])

    assert gets(rsps, "/client/config") == 0
    assert posts(rsps) == [f"{BASE}/client/config", f"{BASE}/assets/associate"]


def test_without_our_mdm_id_no_claim_is_enforced(rsps, make_client, with_service_config, event):
    body = load("assets_page0.json", mdmInfo=FOREIGN.to_json(), nextPageIndex=None)
    rsps.get(f"{BASE}/assets", json=body)
    api = make_client(our_mdm_id=None)

    list(api.assets())
    assert api.last_mdm_info == FOREIGN
    api.associate(assets=BOOK, client_user_ids=["u-1"])

    assert gets(rsps, "/client/config") == 0
    assert len(posts(rsps)) == 1
