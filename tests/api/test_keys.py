"""API keys: made by portal admins, shown once, stored hashed, revocable, last use recorded."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_create
from api.throttling import ApiKeyRateThrottle

pytestmark = pytest.mark.django_db


def _bearer(raw: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {raw}")
    return client


def test_key_is_stored_only_as_its_hash():
    issued = api_key_create(name="SIS", scope=ApiKey.Scope.READ_ONLY)
    stored = ApiKey.objects.values().get(pk=issued.api_key.pk)
    assert stored["key_hash"] == hashlib.sha256(issued.raw.encode()).hexdigest()
    assert issued.raw not in str(stored.values())
    assert issued.raw.startswith(stored["prefix"])


@pytest.mark.parametrize("keyword", ["Bearer", "Api-Key", "bearer"])
def test_key_authenticates_with_bearer_or_api_key_header_and_records_last_use(keyword):
    issued = api_key_create(name="SIS", scope=ApiKey.Scope.READ_ONLY)
    assert _bearer(issued.raw, keyword).get("/api/v1/books/").status_code == 200
    issued.api_key.refresh_from_db()
    assert issued.api_key.last_used_at is not None


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer a b", "Api-Key shk_00000000_x"])
def test_unknown_or_malformed_key_is_refused_with_401_problem(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/books/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_stops_working():
    issued = api_key_create(name="SIS", scope=ApiKey.Scope.ADMIN)
    client = _bearer(issued.raw)
    assert client.get("/api/v1/books/").status_code == 200
    ApiKey.objects.filter(pk=issued.api_key.pk).update(revoked_at="2026-01-01T00:00Z")
    response = client.get("/api/v1/books/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_portal_admin_creates_a_key_on_its_page_and_sees_it_once(portal_admin_client):
    url = reverse("admin:api_apikey_add")
    response = portal_admin_client.post(url, {"name": "Nightly SIS", "scope": "operator"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    api_key = ApiKey.objects.get(name="Nightly SIS")
    raw = response.context["raw_key"]
    assert raw in response.content.decode()
    assert api_key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert api_key.scope == "operator"
    assert api_key.created_by.username == "portal-admins"
    # Never shown again: the change page and the list show only the prefix.
    for page in (
        reverse("admin:api_apikey_change", args=[api_key.pk]),
        reverse("admin:api_apikey_changelist"),
    ):
        content = portal_admin_client.get(page).content.decode()
        assert api_key.prefix in content
        assert raw not in content
    assert _bearer(raw).get("/api/v1/sync-runs/").status_code == 200


def test_portal_admin_revokes_keys_from_the_list(portal_admin_client):
    issued = api_key_create(name="Old", scope=ApiKey.Scope.ADMIN)
    response = portal_admin_client.post(
        reverse("admin:api_apikey_changelist"),
        {"action": "revoke", "_selected_action": [issued.api_key.pk]},
    )
    assert response.status_code == 302
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is not None
    assert _bearer(issued.raw).get("/api/v1/books/").status_code == 401


def test_only_portal_admins_reach_the_keys_page(operator_client, viewer_client):
    for client in (operator_client, viewer_client):
        assert client.get(reverse("admin:api_apikey_changelist")).status_code == 403
        assert (
            client.post(
                reverse("admin:api_apikey_add"), {"name": "x", "scope": "admin"}
            ).status_code
            == 403
        )
    assert not ApiKey.objects.exists()


def test_keys_cannot_be_deleted_only_revoked(portal_admin_client):
    issued = api_key_create(name="Old", scope=ApiKey.Scope.ADMIN)
    url = reverse("admin:api_apikey_delete", args=[issued.api_key.pk])
    assert portal_admin_client.post(url, {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=issued.api_key.pk).exists()


def test_schema_and_docs_need_a_signed_in_user_and_docs_use_local_assets(viewer_client, client):
    assert APIClient().get("/api/v1/schema/").status_code == 401
    assert client.get("/api/v1/docs/").status_code == 302
    page = viewer_client.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
    schema = viewer_client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/v1/licenses/" in schema.json()["paths"]


def test_each_key_has_its_own_rate_limit(monkeypatch, key_client):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    busy, other = key_client(ApiKey.Scope.READ_ONLY), key_client(ApiKey.Scope.READ_ONLY)
    assert [busy.get("/api/v1/books/").status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = busy.get("/api/v1/books/")
    assert limited["Content-Type"] == "application/problem+json"
    assert "Retry-After" in limited
    assert other.get("/api/v1/books/").status_code == 200
