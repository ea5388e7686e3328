"""Journeys by role: an operator, a portal admin adding staff (issue 14, journeys 5 and 8)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from sync.models import SyncRun
from tests.e2e.conftest import PORTAL_ADMIN_ONLY, assert_fits, assert_read_only, menu_links

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


# What an operator may start (both only read from or hand out to Apple what is already decided).
OPERATOR_ACTIONS = frozenset({"Sync now", "Reconcile now"})


def test_operator_syncs_now_reads_everything_and_is_refused_writes(
    live_server, sign_in, operator, synced_token, queued_tasks, screenshot
):
    page = sign_in(operator)

    # Sync now, from the token page.
    page.goto(f"{live_server.url}/admin/tokens/vpptoken/{synced_token.pk}/change/")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator(".messagelist")).to_contain_text("queued")
    assert SyncRun.objects.filter(token=synced_token, state=SyncRun.State.QUEUED).count() == 1

    # Every list in the menu, and the first row of each: read, never write.
    links = menu_links(page)
    assert any("/sync/syncrun/" in link for link in links)
    assert not any("/staff/" in link for link in links)
    for link in links:
        page.goto(link)
        assert_read_only(page, actions=OPERATOR_ACTIONS)
        assert_fits(page)
        first = page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
        if first.count():
            first.click()
            assert_read_only(page, actions=OPERATOR_ACTIONS)
            assert_fits(page)

    # Typing a portal admin's address gets the portal's 403 page, naming the role needed.
    for url in PORTAL_ADMIN_ONLY:
        response = page.goto(live_server.url + url)
        assert response is not None and response.status == 403, url
        expect(page.locator("#content")).to_contain_text("It needs the role Portal admins")
        expect(page.locator("#user-tools")).to_contain_text(operator.username)
    screenshot("journey5-operator-refused")


def test_portal_admin_adds_an_operator_who_signs_in_and_sees_an_operators_portal(
    live_server, browser, sign_in, portal_admin, synced_token, screenshot
):
    page = sign_in(portal_admin)
    page.goto(f"{live_server.url}/admin/staff/staffmember/")
    page.locator(".object-tools").get_by_role("link", name=re.compile("Add staff member")).click()
    expect(page.locator("h1")).to_have_text("Invite a staff member")
    screenshot("journey8-invite-form")
    page.fill("#id_email", "Olivia.Ops@springfield.example")
    page.fill("#id_first_name", "Olivia")
    page.get_by_label(re.compile("Operator —")).check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Invitation sent to olivia.ops@springfield.example as Operators"
    )
    expect(page.locator("#result_list")).to_contain_text("invited, no password chosen yet")
    screenshot("journey8-invited")

    # Olivia opens the link from her email in her own browser, chooses a password, signs in.
    (invitation,) = mail.outbox
    link = re.search(r"http://\S+/invitation/\S+/", invitation.body).group(0)
    olivia = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    olivia.goto(link)
    expect(olivia.locator("#content")).to_contain_text("Choose the password")
    screenshot("journey8-choose-password", olivia)
    olivia.fill("#id_new_password1", "olivia's long passphrase 7")
    olivia.fill("#id_new_password2", "olivia's long passphrase 7")
    olivia.get_by_role("button", name="Set my password").click()
    expect(olivia.locator(".messagelist")).to_contain_text("Your password is set")
    olivia.fill("#id_username", "olivia.ops@springfield.example")
    olivia.fill("#id_password", "olivia's long passphrase 7")
    olivia.click("input[type=submit]")
    expect(olivia.locator("#user-tools")).to_contain_text("Welcome, Olivia")

    # She sees what an operator sees: Sync now, the runs, no upload and no staff page.
    olivia.goto(f"{live_server.url}/admin/tokens/vpptoken/{synced_token.pk}/change/")
    expect(olivia.get_by_role("button", name="Sync now")).to_be_visible()
    expect(olivia.get_by_role("link", name="Renew")).to_have_count(0)
    menu = olivia.locator(".portal-nav")
    expect(menu).to_contain_text("Sync runs")
    expect(menu).not_to_contain_text("Staff members")
    response = olivia.goto(f"{live_server.url}/admin/staff/staffmember/")
    assert response is not None and response.status == 403
    expect(olivia.locator("#content")).to_contain_text("Your role: Operators")
    screenshot("journey8-operator-refused", olivia)
    olivia.context.close()
