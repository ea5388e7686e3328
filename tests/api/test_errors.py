"""Bad input gets a problem document with a plain message: never a 500, never a half write."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.django_db

HUGE = "9" * 30


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", f"/api/v1/sync-runs/?token={HUGE}", 400),
        ("get", f"/api/v1/licenses/?person=-{HUGE}", 400),
        ("get", f"/api/v1/tokens/{HUGE}/", 404),
        ("get", "/api/v1/tokens/0.5/", 404),
        ("get", "/api/v1/no-such-thing/", 404),
        ("get", "/api/v1/licenses/?cursor=not-a-cursor", 404),
        ("delete", "/api/v1/books/1/", 405),
    ],
)
def test_odd_urls_get_problem_documents(admin_api, method, url, status):
    response = getattr(admin_api, method)(url)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"]


def test_a_cursor_past_any_id_is_an_empty_page(admin_api):
    cursor = base64.b64encode(f"p={HUGE}".encode()).decode()
    response = admin_api.get(f"/api/v1/licenses/?cursor={cursor}")
    assert response.status_code == 200 and response.json()["results"] == []


def test_body_that_is_not_json_is_refused_plainly(admin_api):
    response = admin_api.generic(
        "POST", "/api/v1/people/upsert/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    response = admin_api.generic(
        "POST", "/api/v1/people/upsert/", "a=b", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415


def test_huge_ids_in_a_body_are_refused_as_unknown(admin_api):
    body = {"ebook": int(HUGE), "groups": [int(HUGE)]}
    response = admin_api.post("/api/v1/assignments/preview/", body, format="json")
    assert response.status_code == 400
    assert "ebook: Invalid pk" in response.json()["detail"]
