"""Cursor pages: every license once, in id order, forwards and back."""

from __future__ import annotations

import pytest

from tests.factories import LicenseFactory

pytestmark = pytest.mark.django_db


def test_walk(admin_api):
    LicenseFactory.create_batch(7)
    url, seen = "/api/v1/licenses/?page_size=3", []
    while url:
        body = admin_api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted(seen) and len(set(seen)) == 7
    body = admin_api.get("/api/v1/licenses/?page_size=3").json()
    nxt = admin_api.get(body["next"]).json()
    back = admin_api.get(nxt["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in body["results"]]
