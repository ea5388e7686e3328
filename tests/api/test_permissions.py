"""Every endpoint, role and key scope: allowed or refused as declared (the admin's permissions)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.models import ApiKey
from tests.factories import AppleUserFactory, EBookFactory, GroupAssignmentFactory

pytestmark = pytest.mark.django_db

VIEWER, OPERATOR, ADMIN, DEVICE = "read_only", "operator", "admin", "device"
ROLES = (VIEWER, OPERATOR, ADMIN, DEVICE)
READERS = {VIEWER, OPERATOR, ADMIN}

# (method, path, who may) — write calls carry an empty body: allowed means a 400, not a 403.
MATRIX = [
    ("get", "/api/v1/tokens/", READERS),
    ("get", "/api/v1/tokens/{token}/", READERS),
    ("post", "/api/v1/tokens/{token}/sync/", {OPERATOR, ADMIN}),
    ("post", "/api/v1/tokens/{token}/renew/", {ADMIN}),
    ("get", "/api/v1/books/", READERS),
    ("get", "/api/v1/books/{book}/", READERS),
    ("get", "/api/v1/assignments/", READERS),
    ("get", "/api/v1/assignments/{assignment}/", READERS),
    ("post", "/api/v1/assignments/preview/", {ADMIN}),
    ("post", "/api/v1/assignments/", {ADMIN}),
    ("patch", "/api/v1/assignments/{assignment}/", {ADMIN}),
    ("delete", "/api/v1/assignments/{assignment}/", {ADMIN}),
    ("get", "/api/v1/people/", READERS),
    ("post", "/api/v1/people/upsert/", {ADMIN}),
    ("get", "/api/v1/groups/", READERS),
    ("post", "/api/v1/groups/upsert/", {ADMIN}),
    ("get", "/api/v1/memberships/", READERS),
    ("post", "/api/v1/memberships/change/", {ADMIN}),
    ("get", "/api/v1/licenses/", READERS),
    ("get", "/api/v1/sync-runs/", {OPERATOR, ADMIN}),
    ("get", "/api/v1/reconcile-runs/", {OPERATOR, ADMIN}),
    ("get", "/api/v1/invitations/", READERS),
    ("post", "/api/v1/invitations/{apple_user}/resend/", {ADMIN}),
    ("post", "/api/v1/device-channel/devices/", {DEVICE}),
    ("get", "/api/v1/device-channel/install-requests/", {DEVICE}),
    ("post", "/api/v1/device-channel/devices/SERIAL1/managed-media/", {DEVICE}),
]

IDS = [f"{method} {path}" for method, path, _ in MATRIX]


@pytest.fixture
def objects():
    assignment = GroupAssignmentFactory()
    apple_user = AppleUserFactory(token=assignment.ebook.token, invite_code="")
    return {
        "token": assignment.ebook.token_id,
        "book": EBookFactory(token=assignment.ebook.token).pk,
        "assignment": assignment.pk,
        "apple_user": apple_user.pk,
    }


def _call(client, method: str, path: str):
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, {}, format="json")


@pytest.mark.parametrize(
    ("method", "path", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_each_key_scope_is_allowed_or_refused_as_declared(
    method, path, allowed, objects, key_client
):
    url = path.format(**objects)
    outcome = {}
    for scope in ROLES:
        response = _call(key_client(scope), method, url)
        assert response.status_code not in (401, 500), (scope, response.content)
        outcome[scope] = response.status_code != 403
    assert outcome == {scope: scope in allowed for scope in ROLES}


@pytest.mark.parametrize(
    ("method", "path", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_each_signed_in_role_is_allowed_or_refused_as_its_key_scope(
    method, path, allowed, objects, viewer_client, operator_client, portal_admin_client
):
    url = path.format(**objects)
    clients = {VIEWER: viewer_client, OPERATOR: operator_client, ADMIN: portal_admin_client}
    outcome = {}
    for role, client in clients.items():
        if method in ("get", "delete"):
            response = getattr(client, method)(url)
        else:
            response = getattr(client, method)(url, {}, content_type="application/json")
        assert response.status_code not in (401, 500), (role, response.content)
        outcome[role] = response.status_code != 403
    assert outcome == {role: role in allowed for role in clients}


@pytest.mark.parametrize(
    ("method", "path", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_anonymous_callers_get_401_problem(method, path, allowed, objects):
    response = _call(APIClient(), method, path.format(**objects))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_refusal_is_a_problem_document_with_a_plain_message(key_client):
    response = key_client(ApiKey.Scope.DEVICE).get("/api/v1/tokens/")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert "permission" in body["detail"]
