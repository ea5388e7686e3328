"""Hostile token files: a clear form error, no 500, and nothing written here or at Apple."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tokens.models import VppToken
from tokens.parsing import clean_line

pytestmark = pytest.mark.django_db

ADD = reverse("admin:tokens_vpptoken_add")


def _rewrite(content: bytes, **outer) -> bytes:
    """The simulator's file with the outer JSON changed (the signed inner token still works)."""
    data = json.loads(base64.b64decode(content))
    data.update(outer)
    return base64.b64encode(json.dumps(data).encode())


def _upload(client, data: bytes):
    return client.post(
        ADD,
        {
            "token_file": SimpleUploadedFile("t.vpptoken", data),
            "apple_id": "books@springfield.example",
            "account_type": "education",
            "name": "",
        },
    )


def _claimed_at_apple(apple, content: bytes) -> bool:
    return apple.location(content.decode()).mdm_info is not None


def test_deeply_nested_json_is_a_form_error(portal_admin_client, apple):
    response = _upload(portal_admin_client, base64.b64encode(b"[" * 20000))
    assert response.status_code == 200
    assert "not a content token" in response.content.decode()
    assert not VppToken.objects.exists()


def test_expiry_that_overflows_in_utc_is_refused_before_apple_is_claimed(
    portal_admin_client, apple, token_file
):
    data = _rewrite(token_file(), expDate="9999-12-31T23:59:59-2359")
    response = _upload(portal_admin_client, data)
    assert response.status_code == 200
    assert "not a date a content token can have" in response.content.decode()
    assert not VppToken.objects.exists()
    assert not _claimed_at_apple(apple, data)


def test_control_characters_in_org_name_are_cleaned_at_import(
    portal_admin_client, apple, token_file
):
    data = _rewrite(token_file(), orgName="Springfield\r\nBcc: evil@example.com\x00\x07")
    response = _upload(portal_admin_client, data)
    assert response.status_code == 302
    token = VppToken.objects.get()
    assert token.org_name == "Springfield Bcc: evil@example.com"


def test_clean_line_keeps_ordinary_names():
    assert clean_line("École   Saint-Jean") == "École Saint-Jean"
    assert clean_line("a\u2028b\tc") == "a b c"


def test_debug_error_page_hides_the_token_file(
    portal_admin, apple, token_file, settings, monkeypatch
):
    from django.test import Client

    def explode(content):
        raise RuntimeError("Apple client exploded")

    monkeypatch.setattr("tokens.services.client_for_content", explode)
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(portal_admin)
    data = token_file()
    response = _upload(client, data)
    assert response.status_code == 500
    page = response.content.decode()
    assert "Apple client exploded" in page  # the technical page was rendered
    assert data.decode() not in page
    assert data.decode()[:40] not in page
