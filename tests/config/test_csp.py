"""A Content-Security-Policy on every page: scripts only from our origin, never inline."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _script_src(response) -> str:
    policy = response["Content-Security-Policy"]
    return next(part for part in policy.split(";") if part.strip().startswith("script-src"))


@pytest.mark.parametrize(
    "url", [reverse("admin:login"), reverse("admin_password_reset"), "/healthz"]
)
def test_anonymous_pages_have_a_policy(client, settings, url):
    settings.HEALTHZ_TIMEOUT = 1  # no worker here; the header is what is checked
    response = client.get(url)
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "object-src 'none'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in _script_src(response)


def test_admin_pages_have_a_policy_without_inline_script(portal_admin_client):
    for url in (reverse("admin:index"), reverse("admin:tokens_vpptoken_changelist")):
        response = portal_admin_client.get(url)
        assert _script_src(response).split() == ["script-src", "'self'"]
        # Nothing in our own templates relies on inline script.
        page = response.content.decode()
        assert "<script>" not in page and " onclick=" not in page
