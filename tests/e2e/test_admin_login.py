"""A person opens the portal in a browser, signs in, and lands on the branded dashboard."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_signs_in_and_sees_the_dashboard(live_server, page, django_user_model, screenshot):
    django_user_model.objects.create_superuser("alice", "alice@example.org", "correct-horse-42")
    page.goto(f"{live_server.url}/")
    assert "/admin/login/" in page.url
    assert page.locator("#site-name").inner_text().strip().startswith("Shelfkeeper")
    # The tagline stays on one line (it wrapped mid-phrase in the narrow login box).
    tagline = page.locator(".portal-tagline").bounding_box()
    size = page.eval_on_selector(".portal-tagline", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert tagline["height"] < 2 * size
    screenshot("login")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-42")
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard-title")
    assert page.title() == "Dashboard | Shelfkeeper"
    # The stylesheet is served by the project itself (no CDN): its rule is applied.
    weight = page.eval_on_selector(".portal-brand", "e => getComputedStyle(e).fontWeight")
    assert weight == "600"


def test_wrong_password_gets_a_message_not_an_error(live_server, page, django_user_model):
    django_user_model.objects.create_superuser("bob", "bob@example.org", "right-password-42")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "wrong")
    page.click("input[type=submit]")
    assert "The username or password is not right" in page.locator(".errornote").inner_text()
