"""Simulator state: persistence across restarts, --generate, and the /_sim/ control endpoints."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
import requests

from apple.simulator import Simulator
from apple.simulator.generate import GenerateSpecError, generate_template
from tests.simulator_fixtures import SimHttp

PRIDE = "1104589231"


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_restart_with_the_same_state_file_keeps_everything(tmp_path: Path) -> None:
    state = tmp_path / "state.json.gz"
    sim = Simulator(state_path=state).start()
    token = sim.issue_token(org="Org", location="Loc")
    http = SimHttp(sim, token)
    http.post("client/config", {"mdmInfo": {"id": "sk", "name": "Shelfkeeper", "metadata": ""}})
    http.post(
        "users/create", {"users": [{"clientUserId": "sk-1", "managedAppleId": "a@appleid.example"}]}
    )
    event_id = http.post(
        "assets/associate",
        {"assets": [{"adamId": PRIDE, "pricingParam": "STDQ"}], "clientUserIds": ["sk-1"]},
    ).json()["eventId"]
    before = {p: http.get(p).json() for p in ("assets", "assignments", "users")}
    sim.revoke(sim.issue_token(org="Org", location="Loc2"))
    sim.stop()

    again = Simulator(state_path=state).start(port=0)
    try:
        http = SimHttp(again, token)
        for path, body in before.items():
            assert http.get(path).json() == body
        assert http.get("assets").json()["mdmInfo"]["id"] == "sk"
        assert http.status(event_id)["eventStatus"] == "COMPLETE"
        assert again.state.revoked
    finally:
        again.stop()


def test_state_file_is_gzipped_json_of_flat_arrays_written_atomically(tmp_path: Path) -> None:
    state = tmp_path / "state.json.gz"
    sim = Simulator(state_path=state).start()
    try:
        SimHttp(sim, sim.issue_token()).get("assets")
        sim.save()
    finally:
        sim.stop()

    data = json.loads(gzip.decompress(state.read_bytes()))
    assert next(iter(data)) == "secret"
    [location] = data["locations"]
    assert isinstance(location["assignments"]["asset"], list)
    assert all(isinstance(v, int) for v in location["assignments"]["user"])
    assert [p.name for p in tmp_path.iterdir()] == ["state.json.gz"]  # no temp file left behind


def test_changes_are_saved_soon_without_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json.gz"
    sim = Simulator(state_path=state, save_debounce=0.05).start()
    try:
        http = SimHttp(sim, sim.issue_token())
        http.post("users/create", {"users": [{"clientUserId": "sk-saved"}]})

        def saved() -> bool:
            data = json.loads(gzip.decompress(state.read_bytes()))
            return any("sk-saved" in loc["users"]["cuid"] for loc in data["locations"])

        wait_for(saved)
    finally:
        sim.stop()


def test_generate_builds_users_assignments_and_foreign_users() -> None:
    sim = Simulator(
        generate="books=10,users=50,assignments=120,foreign_users=5,apps=2,prefix=ours-,seed=3"
    )
    loc = sim.location(sim.issue_token())

    cuids = loc.users.cuid
    assert len(cuids) == 50 and len(loc.assignments) == 120
    assert sum(c.startswith("other-mdm-") for c in cuids) == 5
    assert sum(c.startswith("ours-") for c in cuids) == 45
    assert sum(a.product_type == "App" for a in loc.assets) == 2
    books = [a for a in loc.assets if a.product_type == "Book"]
    assert sum(a.assigned for a in books) == 120
    assert all(a.available >= 0 for a in books)
    assert any(a.unlimited for a in books) and any(
        a.available == 0 and not a.unlimited for a in books
    )
    pairs = {(a, u) for a, u in zip(loc.assignments.asset, loc.assignments.user, strict=True)}
    assert len(pairs) == 120


def test_generated_state_is_served_over_http_in_pages() -> None:
    sim = Simulator(generate="books=5,users=30,assignments=70", page_size=25).start()
    try:
        http = SimHttp(sim, sim.issue_token())
        first = http.get("assignments").json()
        last = http.get("assignments", pageIndex=2).json()

        assert first["totalPages"] == 3 and first["nextPageIndex"] == 1
        assert len(last["assignments"]) == 20 and "nextPageIndex" not in last
    finally:
        sim.stop()


@pytest.mark.parametrize(
    "spec", ["books=0", "users=1,foreign_users=2", "colour=red", "books=2,users=2,assignments=5"]
)
def test_bad_generate_spec_is_rejected(spec: str) -> None:
    with pytest.raises(GenerateSpecError):
        generate_template(spec)


def test_each_new_location_gets_its_own_copy_and_invite_codes(simulator: Simulator) -> None:
    a = simulator.location(simulator.issue_token(org="O", location="A"))
    b = simulator.location(simulator.issue_token(org="O", location="B"))

    assert a.uid != b.uid
    codes_a = {c for c in a.users.invite if c}
    codes_b = {c for c in b.users.invite if c}
    assert codes_a and codes_a.isdisjoint(codes_b)


def test_control_adds_assignments_from_outside(sim_http: SimHttp) -> None:
    version = sim_http.get("assignments").json()["versionId"]

    response = sim_http.control("POST", "assignments", {"token": sim_http.token, "count": 30})

    assert response.json()["added"] == 30
    new = sim_http.get("assignments", sinceVersionId=version).json()["assignments"]
    assert len(new) == 30 and all(r["clientUserId"].startswith("shelfkeeper-") for r in new)
    books = {a["adamId"] for a in sim_http.get("assets", productType="Book").json()["assets"]}
    assert {r["adamId"] for r in new} <= books


def test_control_issues_tokens_and_claims_and_releases(sim_http: SimHttp) -> None:
    issued = sim_http.control(
        "POST", "tokens", {"org": "Org", "location": "Annex", "days": 10}
    ).json()
    other = SimHttp(sim_http.sim, issued["token"])
    assert other.get("client/config").json()["uId"] == issued["uId"]

    sim_http.control("POST", "claim", {"token": issued["token"]})
    assert other.get("assets").json()["mdmInfo"]["id"].startswith("other-mdm")
    sim_http.control("POST", "release", {"token": issued["token"]})
    assert "mdmInfo" not in other.get("assets").json()

    expired = sim_http.control("POST", "tokens", {"expired": True}).json()["token"]
    assert SimHttp(sim_http.sim, expired).get("assets").json()["errorNumber"] == 9621


def test_control_config_changes_page_size_and_event_delay(sim_http: SimHttp) -> None:
    sim_http.control("POST", "config", {"pageSize": 5, "eventDelay": 60}).raise_for_status()

    assert len(sim_http.get("assets").json()["assets"]) == 5
    event_id = sim_http.post("users/create", {"users": [{"clientUserId": "sk-p"}]}).json()[
        "eventId"
    ]
    assert sim_http.status(event_id)["eventStatus"] == "PENDING"
    assert sim_http.control("POST", "config", {"pageSize": 0}).status_code == 400


def test_control_license_count_simulates_a_purchase(sim_http: SimHttp) -> None:
    before = sim_http.get("assets", adamId="1104593129").json()["assets"][0]

    sim_http.control(
        "POST", "license-count", {"token": sim_http.token, "adamId": "1104593129", "delta": 10}
    )

    after = sim_http.get("assets", adamId="1104593129").json()["assets"][0]
    assert after["totalCount"] == before["totalCount"] + 10
    assert after["availableCount"] == 10


def test_health_and_locations(sim_http: SimHttp) -> None:
    sim_http.get("assets")

    health = sim_http.control("GET", "health").json()
    locations = sim_http.control("GET", "locations").json()

    assert health["status"] == "ok" and health["locations"] == 1
    assert locations[0]["locationName"] == "Test Location"
    assert sim_http.control("GET", "nothing").status_code == 404
    assert sim_http.control("GET", "tokens").status_code == 405


def test_delayed_event_completes_without_anyone_polling(tmp_path: Path) -> None:
    sim = Simulator(event_delay=0.1).start()
    try:
        http = SimHttp(sim, sim.issue_token())
        event_id = http.post("users/create", {"users": [{"clientUserId": "sk-bg"}]}).json()[
            "eventId"
        ]
        loc = sim.location(http.token)

        wait_for(lambda: loc.events[event_id]["eventStatus"] == "COMPLETE")
    finally:
        sim.stop()


def test_stop_closes_idle_keep_alive_connections(simulator: Simulator, sim_token: str) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim_token}"
    assert session.get(f"{simulator.api_url}/assets", timeout=10).status_code == 200

    simulator.stop()

    with pytest.raises(requests.ConnectionError):
        session.get(f"{simulator.api_url}/assets", timeout=2)


def test_license_count_change_gives_get_assets_a_new_version_id(sim_http: SimHttp) -> None:
    before = sim_http.get("assets").json()["versionId"]

    sim_http.control(
        "POST", "license-count", {"token": sim_http.token, "adamId": PRIDE, "delta": -5}
    )

    assert sim_http.get("assets").json()["versionId"] != before


def test_transferred_out_asset_leaves_get_assets_and_cannot_be_assigned(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    before = sim_http.get("assets").json()
    sim_http.control(
        "POST", "transfer-out", {"token": sim_http.token, "adamId": PRIDE}
    ).raise_for_status()

    after = sim_http.get("assets").json()
    keys = {(a["adamId"], a["pricingParam"]) for a in after["assets"]}
    assert (PRIDE, "STDQ") not in keys and (PRIDE, "PLUS") in keys
    assert len(after["assets"]) == len(before["assets"]) - 1
    assert after["versionId"] != before["versionId"]
    body = {
        "assets": [{"adamId": PRIDE, "pricingParam": "STDQ"}],
        "clientUserIds": ["other-mdm-0001"],
    }
    assert sim_http.post("assets/associate", body).json()["errorNumber"] == 9602
    simulator.save()  # no state file: a no-op that must not fail
