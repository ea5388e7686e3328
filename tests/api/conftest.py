from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_create


def _key_client(scope: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name=scope, scope=scope).raw}")
    return client


@pytest.fixture
def key_client():
    """An API client authenticated by a new key of the given scope."""
    return _key_client


@pytest.fixture
def admin_api(db) -> APIClient:
    return _key_client(ApiKey.Scope.ADMIN)


@pytest.fixture
def device_api(db) -> APIClient:
    return _key_client(ApiKey.Scope.DEVICE)
