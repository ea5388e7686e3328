"""Simulator tokens: the .vpptoken format, and 9621 / 9625 / 9622 / 9722 over real HTTP."""

from __future__ import annotations

import base64
import json
import re

import requests

from apple.simulator import Simulator
from apple.simulator.cli import issue_token_file
from apple.simulator.tokens import DEFAULT_SECRET
from tests.simulator_fixtures import SimHttp


def _client_config(sim: Simulator, token: str) -> requests.Response:
    return requests.get(
        f"{sim.api_url}/client/config", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_token_file_is_base64_json_with_token_expdate_and_orgname(simulator: Simulator) -> None:
    content = simulator.issue_token(org="Lakeside Schools", location="North Campus")

    outer = json.loads(base64.b64decode(content, validate=True))

    assert set(outer) == {"token", "expDate", "orgName"}
    assert outer["orgName"] == "Lakeside Schools"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", outer["expDate"])


def test_valid_token_reaches_its_location_and_reports_expiry(simulator: Simulator) -> None:
    token = simulator.issue_token(org="Lakeside Schools", location="North Campus")
    exp_date = json.loads(base64.b64decode(token))["expDate"]

    response = _client_config(simulator, token)

    assert response.status_code == 200
    body = response.json()
    assert body["locationName"] == "North Campus"
    assert body["tokenExpirationDate"] == exp_date
    assert re.fullmatch(r"\d{16}", body["uId"])


def test_renewed_token_for_same_location_reaches_the_same_uid(simulator: Simulator) -> None:
    first = simulator.issue_token(org="Org", location="Loc")
    renewed = simulator.issue_token(org="Org", location="Loc", days=400)
    other = simulator.issue_token(org="Org", location="Another Loc")

    uids = [_client_config(simulator, t).json()["uId"] for t in (first, renewed, other)]

    assert uids[0] == uids[1] != uids[2]


def test_expired_token_gets_9621_with_http_401(simulator: Simulator) -> None:
    token = simulator.issue_token(org="Org", location="Loc", expired=True)

    response = _client_config(simulator, token)

    assert response.status_code == 401
    assert response.json()["errorNumber"] == 9621


def test_revoked_token_gets_9625_with_http_401(simulator: Simulator, sim_token: str) -> None:
    assert _client_config(simulator, sim_token).status_code == 200

    simulator.revoke(sim_token)
    response = _client_config(simulator, sim_token)

    assert response.status_code == 401
    assert response.json()["errorNumber"] == 9625


def test_revoking_through_the_control_endpoint_gets_9625(sim_http: SimHttp) -> None:
    sim_http.control("POST", "revoke", {"token": sim_http.token}).raise_for_status()

    assert sim_http.get("assets").json()["errorNumber"] == 9625


def test_revoking_one_token_leaves_a_renewed_one_working(simulator: Simulator) -> None:
    old = simulator.issue_token(org="Org", location="Loc")
    new = simulator.issue_token(org="Org", location="Loc")

    simulator.revoke(old)

    assert _client_config(simulator, old).status_code == 401
    assert _client_config(simulator, new).status_code == 200


def test_token_signed_with_another_secret_gets_9622(simulator: Simulator) -> None:
    forged = Simulator(catalog={"items": []}, secret="someone-else").issue_token(
        org="Org", location="Loc"
    )

    response = _client_config(simulator, forged)

    assert response.status_code == 401
    assert response.json()["errorNumber"] == 9622


def test_tampered_token_gets_9622(simulator: Simulator, sim_token: str) -> None:
    outer = json.loads(base64.b64decode(sim_token))
    outer["token"] = outer["token"].replace(
        outer["token"][5], "A" if outer["token"][5] != "A" else "B", 1
    )
    tampered = base64.b64encode(json.dumps(outer).encode()).decode()

    assert _client_config(simulator, tampered).json()["errorNumber"] == 9622


def test_bearer_value_that_is_not_base64_json_gets_9622(simulator: Simulator) -> None:
    response = _client_config(simulator, "not-a-token!!")

    assert response.status_code == 401
    assert response.json()["errorNumber"] == 9622


def test_missing_or_non_bearer_authorization_gets_9722(
    simulator: Simulator, sim_token: str
) -> None:
    url = f"{simulator.api_url}/client/config"
    for headers in ({}, {"Authorization": sim_token}, {"Authorization": f"Basic {sim_token}"}):
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["errorNumber"] == 9722


def test_service_config_needs_no_token(simulator: Simulator) -> None:
    response = requests.get(f"{simulator.api_url}/service/config", timeout=10)

    assert response.status_code == 200
    assert response.json()["limits"]["maxAssets"] == 25


def test_token_issued_from_cli_is_accepted_by_running_simulator_with_same_state(tmp_path) -> None:
    state = tmp_path / "sim-state.json.gz"
    sim = Simulator(state_path=state).start()
    try:
        token = issue_token_file(tmp_path / "t.vpptoken", org="Org", location="Loc", state=state)

        assert _client_config(sim, token).status_code == 200
        assert (tmp_path / "t.vpptoken").read_text() == token
    finally:
        sim.stop()


def test_cli_token_without_state_matches_simulator_without_state(tmp_path) -> None:
    sim = Simulator(secret=DEFAULT_SECRET).start()
    try:
        token = issue_token_file(tmp_path / "t.vpptoken", org="Org", location="Loc")

        assert _client_config(sim, token).status_code == 200
    finally:
        sim.stop()


def test_cli_expired_token_is_refused_with_9621(tmp_path) -> None:
    sim = Simulator(secret=DEFAULT_SECRET).start()
    try:
        token = issue_token_file(tmp_path / "t.vpptoken", org="O", location="L", expired=True)

        assert _client_config(sim, token).json()["errorNumber"] == 9621
    finally:
        sim.stop()
