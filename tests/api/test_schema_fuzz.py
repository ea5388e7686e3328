"""Schemathesis over our own OpenAPI document: no 500 on generated input, responses as documented.

Bounded (a few examples per operation) so the whole module runs in seconds, not minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api.models import ApiKey
from api.services import api_key_create
from tests.factories import (
    AppleUserFactory,
    DeviceFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    UserGroupFactory,
)

MAX_EXAMPLES = 6
# What the API promises: never a 500, and every answer as the document describes it. (Not how
# strict input validation is: a schema-valid id of a row that does not exist is still refused.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]

schema = schemathesis.openapi.from_dict(
    SchemaGenerator(patterns=None).get_schema(request=None, public=True)
)
schema.app = get_wsgi_application()


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: a request must not close the test's connection."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def keys(db, keep_test_connection):
    """A little of everything to find, and one key per scope a generated call needs."""
    assignment = GroupAssignmentFactory()
    LicenseFactory(ebook=assignment.ebook)
    AppleUserFactory(token=assignment.ebook.token)
    DeviceFactory(serial_number="IPAD0001")
    UserGroupFactory(external_id="G-1")
    return {
        scope: api_key_create(name=scope, scope=scope).raw
        for scope in (ApiKey.Scope.ADMIN, ApiKey.Scope.DEVICE)
    }


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_errors_and_answers_as_documented(case, keys):
    scope = ApiKey.Scope.DEVICE if "/device-channel/" in case.path else ApiKey.Scope.ADMIN
    response = case.call(headers={"Authorization": f"Bearer {keys[scope]}"})
    case.validate_response(response, checks=CHECKS)
