"""Simulator reads over real HTTP: assets, assignments and users, paging and versionIds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apple.simulator import Simulator
from tests.simulator_fixtures import SimHttp

WUTHERING = "1104593129"  # 3 licenses, all used by another product
PRIDE = "1104589231"  # STDQ and PLUS
ORIGIN = "1104599024"  # free: unlimited licenses
JEKYLL = "1104595147"  # no licenses at all


@pytest.fixture
def small_pages(simulator: Simulator) -> Simulator:
    simulator.page_size = 4
    return simulator


def all_pages(http: SimHttp, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Walk pages until nextPageIndex is absent, checking the paging fields on the way."""
    index = 0
    while True:
        body = http.get(path, pageIndex=index, **params).json()
        assert body["currentPageIndex"] == index
        assert body["size"] == len(body[key])
        yield body
        if "nextPageIndex" not in body:
            assert index == max(body["totalPages"] - 1, 0)
            return
        assert body["nextPageIndex"] == index + 1
        index += 1


def test_assets_are_paged_with_next_page_index_only_while_more_remain(
    small_pages: Simulator, sim_http: SimHttp
) -> None:
    pages = list(all_pages(sim_http, "assets", "assets"))

    assert len(pages) == pages[0]["totalPages"] > 3
    assert all(len(p["assets"]) == 4 for p in pages[:-1])
    keys = [(a["adamId"], a["pricingParam"]) for p in pages for a in p["assets"]]
    assert len(keys) == len(set(keys)) == len(small_pages.location(sim_http.token).assets)


def test_assignments_and_users_are_paged_over_several_pages(
    small_pages: Simulator, sim_http: SimHttp
) -> None:
    assignments = [
        a for p in all_pages(sim_http, "assignments", "assignments") for a in p["assignments"]
    ]
    users = [u for p in all_pages(sim_http, "users", "users") for u in p["users"]]

    assert assignments == small_pages.assignments(sim_http.token)
    assert len(assignments) > 8
    assert users == small_pages.users(sim_http.token)


def test_page_index_past_the_last_page_gets_9650(small_pages: Simulator, sim_http: SimHttp) -> None:
    last = sim_http.get("assets").json()["totalPages"]

    for index in (last, -1, "x"):
        response = sim_http.get("assets", pageIndex=index)
        assert response.status_code == 400
        assert response.json()["errorNumber"] == 9650


def test_empty_result_is_page_zero_without_next_page(sim_http: SimHttp) -> None:
    body = sim_http.get("assignments", adamId="0000000000").json()

    assert body["assignments"] == []
    assert body["currentPageIndex"] == 0
    assert "nextPageIndex" not in body


def test_asset_shows_apple_fields_and_books_are_irrevocable_user_only(sim_http: SimHttp) -> None:
    asset = sim_http.get("assets", adamId=WUTHERING).json()["assets"][0]

    assert asset == {
        "adamId": WUTHERING,
        "pricingParam": "STDQ",
        "productType": "Book",
        "revocable": False,
        "deviceAssignable": False,
        "supportedPlatforms": ["iOS", "macOS"],
        "assignedCount": 3,
        "availableCount": 0,
        "retiredCount": 0,
        "totalCount": 3,
    }


def test_asset_filters_narrow_the_list(sim_http: SimHttp) -> None:
    def keys(**params: Any) -> set[tuple[str, str]]:
        return {
            (a["adamId"], a["pricingParam"])
            for a in sim_http.get("assets", **params).json()["assets"]
        }

    assert keys(adamId=PRIDE) == {(PRIDE, "STDQ"), (PRIDE, "PLUS")}
    assert keys(adamId=PRIDE, pricingParam="PLUS") == {(PRIDE, "PLUS")}
    books = sim_http.get("assets", productType="Book").json()["assets"]
    apps = sim_http.get("assets", productType="App").json()["assets"]
    assert len(books) >= 25 and all(a["productType"] == "Book" for a in books)
    assert apps and all(a["revocable"] and a["deviceAssignable"] for a in apps)
    assert keys(revocable="true") == keys(productType="App")
    assert keys(deviceAssignable="false") == keys(productType="Book")
    assert (JEKYLL, "STDQ") in keys(maxAvailableCount=0)
    assert (ORIGIN, "STDQ") not in keys(maxAvailableCount=0)
    assert all(
        a["assignedCount"] >= 3 for a in sim_http.get("assets", minAssignedCount=3).json()["assets"]
    )
    assert all(
        a["availableCount"] >= 1000
        for a in sim_http.get("assets", minAvailableCount=1000).json()["assets"]
    )
    assert keys(minAssignedCount=3, maxAssignedCount=3) == {(WUTHERING, "STDQ")}


def test_free_book_reports_int32_max_licenses_or_unlimited_shape(sim_http: SimHttp) -> None:
    asset = sim_http.get("assets", adamId=ORIGIN).json()["assets"][0]
    unlimited = sim_http.get("assets", unlimited="true").json()["unlimitedAssets"]
    limited = sim_http.get("assets", unlimited="false").json()["assets"]

    assert asset["totalCount"] == 2147483647
    assert ORIGIN in {a["adamId"] for a in unlimited}
    assert "totalCount" not in unlimited[0] and "availableCount" not in unlimited[0]
    assert ORIGIN not in {a["adamId"] for a in limited}


def test_bad_filter_value_gets_9602(sim_http: SimHttp) -> None:
    for params in ({"productType": "Movie"}, {"revocable": "maybe"}, {"minAssignedCount": "x"}):
        assert sim_http.get("assets", **params).json()["errorNumber"] == 9602


def test_assignment_filters(sim_http: SimHttp) -> None:
    def rows(**params: Any) -> list[dict[str, Any]]:
        return sim_http.get("assignments", **params).json()["assignments"]

    assert {r["clientUserId"] for r in rows(adamId=WUTHERING)} == {
        "other-mdm-0005",
        "other-mdm-0006",
        "other-mdm-0007",
    }
    assert {r["adamId"] for r in rows(clientUserId="other-mdm-0005")} == {
        PRIDE,
        "1104590122",
        WUTHERING,
    }
    assert all(r["pricingParam"] == "PLUS" for r in rows(pricingParam="PLUS"))
    assert rows(serialNumber="DMPX2LLFJF8J") == [
        {"adamId": "1598763201", "pricingParam": "STDQ", "serialNumber": "DMPX2LLFJF8J"}
    ]
    retired = rows(clientUserId="other-mdm-0011")
    assert retired and not rows(clientUserId="other-mdm-0011", excludeInactiveUsers="true")
    with_state = rows(clientUserId="other-mdm-0001", includeUserState="true")[0]
    assert with_state["userStatus"] == "Associated" and with_state["idHash"]


def test_user_filters(sim_http: SimHttp) -> None:
    def users(**params: Any) -> list[dict[str, Any]]:
        return sim_http.get("users", **params).json()["users"]

    assert {u["status"] for u in users(activeOnly="true")} <= {"Registered", "Associated"}
    assert {u["clientUserId"] for u in users(retiredOnly="true")} == {
        "other-mdm-0011",
        "other-mdm-0012",
    }
    assert [u["clientUserId"] for u in users(clientUserId="other-mdm-0003")] == ["other-mdm-0003"]
    invited = users(clientUserId="other-mdm-0009")[0]
    assert invited["status"] == "Registered" and invited["inviteCode"] and "idHash" not in invited


def test_since_version_id_returns_only_assignments_added_after_it(
    simulator: Simulator, sim_http: SimHttp
) -> None:
    version = sim_http.get("assignments").json()["versionId"]
    assert sim_http.get("assignments", sinceVersionId=version).json()["assignments"] == []

    simulator.add_assignments(sim_http.token, 5, adam_id=PRIDE, pricing_param="STDQ")
    changes = sim_http.get("assignments", sinceVersionId=version).json()

    assert len(changes["assignments"]) == 5
    assert {r["adamId"] for r in changes["assignments"]} == {PRIDE}
    assert changes["versionId"] != version
    assert (
        sim_http.get("assignments", sinceVersionId=changes["versionId"]).json()["assignments"] == []
    )


def test_since_version_id_returns_users_with_their_new_status(sim_http: SimHttp) -> None:
    version = sim_http.get("users").json()["versionId"]
    sim_http.post("users/retire", {"users": [{"clientUserId": "other-mdm-0001"}]})
    sim_http.post("users/create", {"users": [{"clientUserId": "shelfkeeper-new"}]})

    changed = sim_http.get("users", sinceVersionId=version).json()["users"]

    assert {(u["clientUserId"], u["status"]) for u in changed} == {
        ("other-mdm-0001", "Retired"),
        ("shelfkeeper-new", "Registered"),
    }


def test_invalid_version_id_gets_9721(simulator: Simulator, sim_http: SimHttp) -> None:
    other = simulator.issue_token(org="Other", location="Elsewhere")
    foreign_version = SimHttp(simulator, other).get("users").json()["versionId"]

    for bad in ("garbage", "djI6MTox", foreign_version):
        for path in ("assignments", "users"):
            response = sim_http.get(path, sinceVersionId=bad)
            assert response.status_code == 400
            assert response.json()["errorNumber"] == 9721


def test_version_id_is_opaque_and_changes_with_users_and_assignments(sim_http: SimHttp) -> None:
    first = sim_http.get("assets").json()["versionId"]
    sim_http.post("users/create", {"users": [{"clientUserId": "shelfkeeper-x"}]})
    second = sim_http.get("assets").json()["versionId"]

    assert isinstance(first, str) and not first.isdigit()
    assert first != second


def test_every_read_carries_uid_and_token_expiration(sim_http: SimHttp) -> None:
    for path in ("assets", "assignments", "users", "client/config"):
        body = sim_http.get(path).json()
        assert body["uId"] and body["tokenExpirationDate"]
        assert "mdmInfo" not in body  # nobody has claimed the demo token
