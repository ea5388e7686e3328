"""The API reference renders in a browser from the portal's own files, under its CSP."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_signed_in_admin_reads_the_api_reference_and_makes_a_key(
    live_server, page, django_user_model
):
    django_user_model.objects.create_superuser("alice", "alice@example.org", "correct-horse-42")
    refused, outside = [], []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
    )
    page.goto(f"{live_server.url}/api/v1/docs/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-42")
    page.click("input[type=submit]")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Shelfkeeper API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector("text=/api/v1/licenses/")
    assert not outside, outside
    assert not [text for text in refused if "script" in text], refused

    page.goto(f"{live_server.url}/admin/api/apikey/add/")
    page.fill("#id_name", "Nightly SIS")
    page.select_option("#id_scope", "read_only")
    page.click("input[name=_save]")
    key = page.locator("#api-key-value").input_value()
    assert key.startswith("shk_")
    answer = page.request.get(
        f"{live_server.url}/api/v1/books/", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status == 200
