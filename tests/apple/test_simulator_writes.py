"""Simulator writes over real HTTP: users, invitations, associations, events, client config."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from apple.simulator import Simulator
from tests.simulator_fixtures import SimHttp

PRIDE = "1104589231"
WUTHERING = "1104593129"  # 0 available
HEART = "1104602013"  # 0 available
CALL_OF_THE_WILD = "1104600123"  # 5000 licenses, none assigned
APP = "1598763201"  # revocable, device-assignable


def book(adam_id: str, pricing: str = "STDQ") -> dict[str, str]:
    return {"adamId": adam_id, "pricingParam": pricing}


def error_number(response: requests.Response) -> int:
    return response.json()["errorNumber"]


def create_users(http: SimHttp, *users: dict[str, Any]) -> dict[str, Any]:
    response = http.post("users/create", {"users": list(users)})
    assert response.status_code == 200, response.text
    return http.status(response.json()["eventId"])


class FakeClock:
    """Wall clock the test moves by hand."""

    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- users and invitations ------------------------------------------------------------------


def test_user_created_with_managed_apple_id_is_associated_at_once(sim_http: SimHttp) -> None:
    status = create_users(
        sim_http,
        {
            "clientUserId": "sk-1",
            "email": "ann@school.example",
            "managedAppleId": "ann@appleid.school.example",
        },
    )

    assert status["eventStatus"] == "COMPLETE" and status["eventType"] == "CREATE"
    user = sim_http.get("users", clientUserId="sk-1").json()["users"][0]
    assert user["status"] == "Associated" and user["idHash"] and "inviteCode" not in user


def test_user_created_without_managed_apple_id_is_registered_with_invite_code(
    sim_http: SimHttp,
) -> None:
    create_users(sim_http, {"clientUserId": "sk-2", "email": "bob@school.example"})

    user = sim_http.get("users", clientUserId="sk-2").json()["users"][0]
    assert user["status"] == "Registered" and len(user["inviteCode"]) == 32 and "idHash" not in user


def test_invitation_url_from_service_config_accepts_the_user(sim_http: SimHttp) -> None:
    create_users(sim_http, {"clientUserId": "sk-3"})
    code = sim_http.get("users", clientUserId="sk-3").json()["users"][0]["inviteCode"]
    version = sim_http.get("users").json()["versionId"]
    template = sim_http.get("service/config").json()["urls"]["invitationEmail"]

    page = requests.get(template.replace("%25inviteCode%25", code), timeout=10)

    assert page.status_code == 200 and "accepted" in page.text.lower()
    user = sim_http.get("users", sinceVersionId=version).json()["users"]
    assert [(u["clientUserId"], u["status"]) for u in user] == [("sk-3", "Associated")]
    assert user[0]["idHash"] and "inviteCode" not in user[0]


def test_unknown_invitation_code_is_a_404_page(simulator: Simulator) -> None:
    assert (
        requests.get(
            f"{simulator.url}/invite", params={"inviteCode": "nope"}, timeout=10
        ).status_code
        == 404
    )


def test_accept_invitation_python_api_and_control_endpoint(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    create_users(sim_http, {"clientUserId": "sk-4"}, {"clientUserId": "sk-5"})
    codes = {u["clientUserId"]: u.get("inviteCode") for u in simulator.users(sim_http.token)}

    assert simulator.accept_invitation(codes["sk-4"])["status"] == "Associated"
    response = sim_http.control("POST", "accept-invitation", {"inviteCode": codes["sk-5"]})

    assert response.json()["user"]["status"] == "Associated"
    assert sim_http.control("POST", "accept-invitation", {"inviteCode": "nope"}).status_code == 400


def test_creating_an_existing_user_fails_async_with_9716(sim_http: SimHttp) -> None:
    status = create_users(sim_http, {"clientUserId": "other-mdm-0001"}, {"clientUserId": "sk-new"})

    assert status["eventStatus"] == "FAILED"
    assert (status["numRequested"], status["numCompleted"]) == (2, 1)
    assert status["failures"][0]["errorNumber"] == 9716
    assert status["failures"][0]["errorInfo"]["clientUserIds"] == ["other-mdm-0001"]


def test_user_request_validation(simulator: Simulator, sim_http: SimHttp) -> None:
    simulator.limits["maxUsers"] = 2
    too_many = [{"clientUserId": f"u{i}"} for i in range(3)]

    assert error_number(sim_http.post("users/create", {"users": too_many})) == 9714
    assert (
        error_number(
            sim_http.post("users/create", {"users": [{"clientUserId": "a"}, {"clientUserId": "a"}]})
        )
        == 9715
    )
    assert (
        error_number(
            sim_http.post("users/create", {"users": [{"clientUserId": "a", "email": "no-at-sign"}]})
        )
        == 9717
    )
    assert error_number(sim_http.post("users/create", {"users": []})) == 9720
    assert error_number(sim_http.post("users/update", {})) == 9720


def test_retiring_a_user_keeps_their_books(sim_http: SimHttp) -> None:
    response = sim_http.post(
        "users/retire", {"users": [{"clientUserId": "other-mdm-0005"}, {"clientUserId": "ghost"}]}
    )
    status = sim_http.status(response.json()["eventId"])

    assert status["eventType"] == "RETIRE" and status["eventStatus"] == "FAILED"
    assert status["failures"][0]["errorNumber"] == 9609
    assert (
        sim_http.get("users", clientUserId="other-mdm-0005").json()["users"][0]["status"]
        == "Retired"
    )
    assert (
        len(sim_http.get("assignments", clientUserId="other-mdm-0005").json()["assignments"]) == 3
    )


def test_update_user_with_managed_apple_id_associates_them(sim_http: SimHttp) -> None:
    create_users(sim_http, {"clientUserId": "sk-6"})
    response = sim_http.post(
        "users/update", {"users": [{"clientUserId": "sk-6", "managedAppleId": "c@appleid.example"}]}
    )

    assert sim_http.status(response.json()["eventId"])["eventStatus"] == "COMPLETE"
    assert sim_http.get("users", clientUserId="sk-6").json()["users"][0]["status"] == "Associated"


# --- associate / disassociate ---------------------------------------------------------------


def test_associate_uses_licenses_and_completes(simulator: Simulator, sim_http: SimHttp) -> None:
    create_users(
        sim_http,
        {"clientUserId": "sk-a"},
        {"clientUserId": "sk-b", "managedAppleId": "b@appleid.example"},
    )
    before = simulator.asset(sim_http.token, CALL_OF_THE_WILD)

    response = sim_http.post(
        "assets/associate", {"assets": [book(CALL_OF_THE_WILD)], "clientUserIds": ["sk-a", "sk-b"]}
    )
    status = sim_http.status(response.json()["eventId"])

    assert status == {
        "eventStatus": "COMPLETE",
        "eventType": "ASSOCIATE",
        "numRequested": 2,
        "numCompleted": 2,
        "uId": status["uId"],
        "tokenExpirationDate": status["tokenExpirationDate"],
    }
    after = sim_http.get("assets", adamId=CALL_OF_THE_WILD).json()["assets"][0]
    assert after["assignedCount"] == before["assignedCount"] + 2
    assert after["availableCount"] == before["availableCount"] - 2
    rows = sim_http.get("assignments", adamId=CALL_OF_THE_WILD).json()["assignments"]
    assert {r["clientUserId"] for r in rows} == {"sk-a", "sk-b"}


def test_associating_again_uses_no_second_license(simulator: Simulator, sim_http: SimHttp) -> None:
    create_users(sim_http, {"clientUserId": "sk-a"})
    body = {"assets": [book(CALL_OF_THE_WILD)], "clientUserIds": ["sk-a"]}
    sim_http.post("assets/associate", body)

    status = sim_http.status(sim_http.post("assets/associate", body).json()["eventId"])

    assert status["eventStatus"] == "COMPLETE"
    assert simulator.asset(sim_http.token, CALL_OF_THE_WILD)["assignedCount"] == 1


def test_event_is_pending_until_the_delay_has_passed() -> None:
    clock = FakeClock()
    sim = Simulator(event_delay=30, clock=clock).start()
    try:
        http = SimHttp(sim, sim.issue_token())
        response = http.post("users/create", {"users": [{"clientUserId": "sk-late"}]})
        event_id = response.json()["eventId"]

        pending = http.status(event_id)
        assert pending["eventStatus"] == "PENDING" and pending["numCompleted"] == 0
        assert http.get("users", clientUserId="sk-late").json()["users"] == []

        clock.now += 31
        done = http.status(event_id)
        assert done["eventStatus"] == "COMPLETE" and done["numCompleted"] == 1
        assert (
            http.get("users", clientUserId="sk-late").json()["users"][0]["status"] == "Registered"
        )
    finally:
        sim.stop()


def test_delayed_events_apply_in_order(simulator: Simulator) -> None:
    clock = FakeClock()
    sim = Simulator(event_delay=5, clock=clock).start()
    try:
        http = SimHttp(sim, sim.issue_token())
        http.post("users/create", {"users": [{"clientUserId": "sk-o"}]})
        associate = http.post(
            "assets/associate", {"assets": [book(PRIDE)], "clientUserIds": ["sk-o"]}
        )

        clock.now += 6
        assert http.status(associate.json()["eventId"])["eventStatus"] == "COMPLETE"
    finally:
        sim.stop()


def test_associate_beyond_available_licenses_fails_partially_with_9709(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    simulator.change_license_count(sim_http.token, CALL_OF_THE_WILD, "STDQ", -4998)  # 2 left
    users = [{"clientUserId": f"sk-{i}"} for i in range(4)]
    create_users(sim_http, *users)

    response = sim_http.post(
        "assets/associate",
        {"assets": [book(CALL_OF_THE_WILD)], "clientUserIds": [u["clientUserId"] for u in users]},
    )
    status = sim_http.status(response.json()["eventId"])

    assert status["eventStatus"] == "FAILED"
    assert (status["numRequested"], status["numCompleted"]) == (4, 2)
    [failure] = status["failures"]
    assert failure["errorNumber"] == 9709
    assert failure["errorInfo"]["clientUserIds"] == ["sk-2", "sk-3"]
    assert failure["errorInfo"]["assets"] == [book(CALL_OF_THE_WILD)]
    asset = simulator.asset(sim_http.token, CALL_OF_THE_WILD)
    assert (asset["availableCount"], asset["assignedCount"]) == (0, 2)


def test_associate_to_unknown_user_fails_async_with_9609(sim_http: SimHttp) -> None:
    response = sim_http.post(
        "assets/associate", {"assets": [book(PRIDE)], "clientUserIds": ["never-created"]}
    )

    status = sim_http.status(response.json()["eventId"])

    assert status["eventStatus"] == "FAILED" and status["numCompleted"] == 0
    assert status["failures"][0]["errorNumber"] == 9609
    assert status["failures"][0]["errorInfo"]["clientUserIds"] == ["never-created"]


def test_book_to_serial_number_is_refused_with_9707(sim_http: SimHttp) -> None:
    response = sim_http.post(
        "assets/associate", {"assets": [book(PRIDE)], "serialNumbers": ["C02ABC"]}
    )

    assert response.status_code == 400
    assert error_number(response) == 9707
    assert response.json()["errorInfo"]["assets"] == [book(PRIDE)]


def test_app_can_go_to_a_serial_number_and_be_disassociated(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    before = simulator.asset(sim_http.token, APP)["assignedCount"]
    sim_http.post("assets/associate", {"assets": [book(APP)], "serialNumbers": ["C02NEW"]})
    assert simulator.asset(sim_http.token, APP)["assignedCount"] == before + 1

    response = sim_http.post(
        "assets/disassociate", {"assets": [book(APP)], "serialNumbers": ["C02NEW"]}
    )

    assert sim_http.status(response.json()["eventId"])["eventStatus"] == "COMPLETE"
    assert simulator.asset(sim_http.token, APP)["assignedCount"] == before
    assert sim_http.get("assignments", serialNumber="C02NEW").json()["assignments"] == []


def test_disassociating_a_book_is_refused_with_9706(sim_http: SimHttp) -> None:
    response = sim_http.post(
        "assets/disassociate", {"assets": [book(PRIDE)], "clientUserIds": ["other-mdm-0001"]}
    )

    assert response.status_code == 400
    assert error_number(response) == 9706
    assert (
        len(
            sim_http.get("assignments", adamId=PRIDE, clientUserId="other-mdm-0001").json()[
                "assignments"
            ]
        )
        == 1
    )


@pytest.mark.parametrize(
    ("body", "number"),
    [
        ({"assets": [book(f"{i}") for i in range(3)], "clientUserIds": ["a"]}, 9700),
        ({"assets": [book(PRIDE)], "clientUserIds": ["a", "b", "c"]}, 9701),
        ({"assets": [book(APP)], "serialNumbers": ["1", "2", "3"]}, 9702),
        ({"assets": [book(PRIDE), book(PRIDE)], "clientUserIds": ["a"]}, 9703),
        ({"assets": [book(PRIDE)], "clientUserIds": ["a", "a"]}, 9704),
        ({"assets": [book(APP)], "serialNumbers": ["1", "1"]}, 9705),
        ({"clientUserIds": ["a"]}, 9718),
        ({"assets": [], "clientUserIds": ["a"]}, 9718),
        ({"assets": [book(PRIDE)]}, 9719),
        ({"assets": [book("999")], "clientUserIds": ["a"]}, 9602),
    ],
)
def test_associate_request_limits_and_duplicates(
    simulator: Simulator, sim_http: SimHttp, body: dict[str, Any], number: int
) -> None:
    simulator.limits.update(maxAssets=2, maxClientUserIds=2, maxSerialNumbers=2)

    response = sim_http.post("assets/associate", body)

    assert response.status_code == 400
    assert error_number(response) == number


def test_limits_come_from_service_config_and_are_configurable(sim_http: SimHttp) -> None:
    sim_http.control("POST", "config", {"limits": {"maxAssets": 3}}).raise_for_status()

    assert sim_http.get("service/config").json()["limits"]["maxAssets"] == 3


def test_unknown_event_gets_9708(simulator: Simulator, sim_http: SimHttp) -> None:
    other = SimHttp(simulator, simulator.issue_token(org="B", location="B"))
    event_id = other.post("users/create", {"users": [{"clientUserId": "x"}]}).json()["eventId"]

    for unknown in ("00000000-0000-0000-0000-000000000000", event_id):
        response = sim_http.get("status", eventId=unknown)
        assert response.status_code == 400 and error_number(response) == 9708


# --- client config and HTTP conventions -----------------------------------------------------

OURS = {"id": "shelfkeeper-7f3c2a", "name": "Shelfkeeper", "metadata": "https://portal.example"}


def test_mdm_info_is_stored_and_echoed_on_every_later_response(sim_http: SimHttp) -> None:
    response = sim_http.post("client/config", {"mdmInfo": OURS})

    assert response.json()["mdmInfo"] == OURS
    for path in ("client/config", "assets", "assignments", "users"):
        assert sim_http.get(path).json()["mdmInfo"] == OURS
    event = sim_http.post("users/create", {"users": [{"clientUserId": "z"}]}).json()
    assert event["mdmInfo"] == OURS and sim_http.status(event["eventId"])["mdmInfo"] == OURS


def test_claim_by_other_replaces_the_echoed_mdm_info(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    sim_http.post("client/config", {"mdmInfo": OURS})

    simulator.claim_by_other(sim_http.token)

    echoed = sim_http.get("assets").json()["mdmInfo"]
    assert echoed["id"] != OURS["id"] and echoed["id"].startswith("other-mdm")


@pytest.mark.parametrize(
    ("body", "number"),
    [
        ({"mdmInfo": {"id": "x", "name": "y"}}, 9723),
        ({"mdmInfo": {"id": "x" * 101, "name": "y", "metadata": ""}}, 9724),
        ({"mdmInfo": {"id": "x", "name": "y" * 101, "metadata": ""}}, 9725),
        ({"mdmInfo": {"id": "x", "name": "y", "metadata": "m" * 256}}, 9713),
        ({"notificationUrl": "https://portal.example/hook"}, 9710),
        ({"notificationUrl": "http://portal.example/hook", "notificationAuthToken": "s"}, 9712),
        ({"notificationUrl": "https://p.example/" + "x" * 600, "notificationAuthToken": "s"}, 9711),
    ],
)
def test_client_config_validation(sim_http: SimHttp, body: dict[str, Any], number: int) -> None:
    response = sim_http.post("client/config", body)

    assert response.status_code == 400
    assert error_number(response) == number


def test_client_config_keeps_notification_settings(sim_http: SimHttp) -> None:
    sim_http.post(
        "client/config",
        {
            "notificationUrl": "https://portal.example/hook",
            "notificationAuthToken": "s3",
            "notificationTypes": ["ASSET_COUNT"],
        },
    )

    config = sim_http.get("client/config").json()
    assert config["notificationUrl"] == "https://portal.example/hook"
    assert config["subscribedNotificationTypes"] == ["ASSET_COUNT"]
    assert config["countryISO2ACode"] == "US" and config["defaultPlatform"] == "volumestore"


def test_wrong_method_gets_9726_and_405(sim_http: SimHttp) -> None:
    response = sim_http.session.delete(f"{sim_http.sim.api_url}/assets", timeout=10)
    post_to_read = sim_http.post("users", {})

    assert (response.status_code, error_number(response)) == (405, 9726)
    assert (post_to_read.status_code, error_number(post_to_read)) == (405, 9726)


def test_wrong_content_type_gets_9727_and_415(sim_http: SimHttp) -> None:
    response = sim_http.session.post(
        f"{sim_http.sim.api_url}/users/create",
        data="users=x",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )

    assert (response.status_code, error_number(response)) == (415, 9727)


def test_body_that_is_not_json_gets_9602(sim_http: SimHttp) -> None:
    response = sim_http.session.post(
        f"{sim_http.sim.api_url}/users/create",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert (response.status_code, error_number(response)) == (400, 9602)


def test_unknown_paths_are_404(sim_http: SimHttp) -> None:
    assert sim_http.get("nothing-here").status_code == 404
    assert requests.get(f"{sim_http.sim.url}/elsewhere", timeout=10).status_code == 404
