"""Simulator faults on demand: SPEC grammar, every fault kind, and the control endpoint."""

from __future__ import annotations

import json
import time

import pytest
import requests

from apple.simulator import Simulator
from apple.simulator.faults import FaultSpecError, parse_spec
from tests.simulator_fixtures import SimHttp


def test_spec_grammar_parses_kinds_and_parameters() -> None:
    rules = parse_spec(
        "429:next=3:retry_after=2,500:p=0.1,slow:delay=1.5:p=0.2,garbage:next=1,claimed:next=1"
    )

    assert [r.kind for r in rules] == ["429", "500", "slow", "garbage", "claimed"]
    assert (rules[0].remaining, rules[0].retry_after) == (3, 2.0)
    assert rules[1].probability == 0.1 and rules[1].retry_after is None
    assert (rules[2].delay, rules[2].probability) == (1.5, 0.2)


@pytest.mark.parametrize("spec", ["teapot", "429:p=2", "500:when=now", "slow:delay", "429:next=x"])
def test_bad_spec_is_rejected(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_spec(spec)


def test_429_carries_retry_after_for_the_next_n_requests_only(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    simulator.set_faults("429:next=2:retry_after=7")

    first, second, third = (sim_http.get("assets") for _ in range(3))

    for response in (first, second):
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.json()["errorNumber"] == 9646
    assert third.status_code == 200


def test_500_with_and_without_retry_after(simulator: Simulator, sim_http: SimHttp) -> None:
    simulator.set_faults("500:next=1,500:next=1:retry_after=120")

    plain, with_header = sim_http.get("assets"), sim_http.get("assets")

    assert plain.status_code == 500 and "Retry-After" not in plain.headers
    assert plain.json()["errorNumber"] == 9603
    assert with_header.status_code == 500 and with_header.headers["Retry-After"] == "120"


def test_503_is_an_html_answer_with_optional_retry_after(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    simulator.set_faults("503:next=1:retry_after=3,503:next=1")

    first, second = sim_http.get("users"), sim_http.get("users")

    assert first.status_code == 503 and first.headers["Retry-After"] == "3"
    assert first.headers["Content-Type"].startswith("text/html")
    assert second.status_code == 503 and "Retry-After" not in second.headers


def test_failed_write_under_500_queues_nothing(simulator: Simulator, sim_http: SimHttp) -> None:
    simulator.set_faults("500:next=1")

    response = sim_http.post("users/create", {"users": [{"clientUserId": "sk-x"}]})

    assert response.status_code == 500
    assert simulator.user(sim_http.token, "sk-x") is None


def test_slow_fault_delays_the_answer(simulator: Simulator, sim_http: SimHttp) -> None:
    simulator.set_faults("slow:delay=0.3:next=1")

    started = time.perf_counter()
    response = sim_http.get("assets")

    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_garbage_fault_sends_malformed_json_after_doing_the_work(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    simulator.set_faults("garbage:next=1")

    response = sim_http.post("users/create", {"users": [{"clientUserId": "sk-g"}]})

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert simulator.user(sim_http.token, "sk-g") is not None
    assert sim_http.get("assets").json()["assets"]


def test_expired_and_revoked_faults_answer_401_once(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    simulator.set_faults("expired:next=1,revoked:next=1")

    expired, revoked, fine = sim_http.get("assets"), sim_http.get("assets"), sim_http.get("assets")

    assert (expired.status_code, expired.json()["errorNumber"]) == (401, 9621)
    assert (revoked.status_code, revoked.json()["errorNumber"]) == (401, 9625)
    assert fine.status_code == 200


def test_claimed_fault_puts_a_foreign_mdm_info_on_the_response(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    ours = {"id": "shelfkeeper-1", "name": "Shelfkeeper", "metadata": ""}
    sim_http.post("client/config", {"mdmInfo": ours})
    simulator.set_faults("claimed:next=1")

    claimed, later = sim_http.get("assignments").json(), sim_http.get("assignments").json()

    assert claimed["mdmInfo"]["id"] != "shelfkeeper-1"
    assert later["mdmInfo"] == ours


def test_probability_one_fires_always_and_zero_never(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    simulator.set_faults("500:p=1")
    assert {sim_http.get("assets").status_code for _ in range(5)} == {500}

    simulator.set_faults("500:p=0")
    assert {sim_http.get("assets").status_code for _ in range(5)} == {200}


def test_path_and_method_filters_limit_a_fault(simulator: Simulator, sim_http: SimHttp) -> None:
    simulator.set_faults("429:path=/assignments:method=GET")

    assert sim_http.get("assets").status_code == 200
    assert sim_http.get("assignments").status_code == 429


def test_faults_never_touch_control_endpoints(simulator: Simulator, sim_http: SimHttp) -> None:
    simulator.set_faults("500")

    assert sim_http.control("GET", "health").status_code == 200


def test_faults_control_endpoint_sets_lists_and_clears(sim_http: SimHttp) -> None:
    response = sim_http.control("POST", "faults", {"spec": "429:next=1:retry_after=2"})
    assert response.json()["faults"] == [{"kind": "429", "next": 1, "retry_after": 2.0}]
    assert sim_http.get("assets").status_code == 429

    sim_http.control("POST", "faults", {"faults": [{"kind": "500", "p": 1}]})
    assert sim_http.get("assets").status_code == 500
    sim_http.control("DELETE", "faults")

    assert sim_http.get("assets").status_code == 200
    assert sim_http.control("GET", "faults").json() == {"faults": []}
    assert sim_http.control("POST", "faults", {"spec": "nonsense"}).status_code == 400


def test_faults_given_at_construction_apply(sim_token: str) -> None:
    sim = Simulator(faults="503:next=1").start()
    try:
        token = sim.issue_token()
        url = f"{sim.api_url}/assets"
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(url, headers=headers, timeout=10).status_code == 503
        assert requests.get(url, headers=headers, timeout=10).status_code == 200
    finally:
        sim.stop()


def test_faults_also_hit_the_lookup(simulator: Simulator) -> None:
    simulator.set_faults("429:next=1:path=/lookup")

    response = requests.get(simulator.lookup_url, params={"id": "1104589231"}, timeout=10)

    assert response.status_code == 429
