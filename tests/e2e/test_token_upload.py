"""A portal admin uploads the .vpptoken file Apple gave them, and sees what went wrong when not."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _open_upload_form(page, live_server):
    page.goto(f"{live_server.url}/admin/tokens/vpptoken/")
    page.locator(".object-tools").get_by_role("link", name="Add VPP token").click()
    expect(page.locator("h1")).to_have_text("Upload a token")


def _upload(page, path, *, apple_id="books@springfield.example", account_type="Education"):
    page.set_input_files("#id_token_file", str(path))
    page.fill("#id_apple_id", apple_id)
    page.get_by_label(account_type, exact=True).check()
    page.get_by_role("button", name="Upload token").click()


def test_admin_uploads_a_token_and_lands_on_its_page_marked_valid(
    live_server, sign_in, portal_admin, token_file, tmp_path, screenshot, queued_tasks
):
    path = tmp_path / "Main Library.vpptoken"
    path.write_bytes(token_file())
    page = sign_in(portal_admin)
    _open_upload_form(page, live_server)
    screenshot("token-upload")

    _upload(page, path)

    expect(page).to_have_url(re.compile(r"/admin/tokens/vpptoken/\d+/change/$"))
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Shelfkeeper manages its location"
    )
    expect(page.locator(".field-state_badge .portal-badge")).to_have_text("Valid")
    expect(page.locator(".field-apple_id")).to_contain_text("books@springfield.example")

    page.goto(f"{live_server.url}/admin/tokens/vpptoken/")
    expect(page.locator("#result_list .portal-badge")).to_have_text(["Valid"])
    screenshot("token-list")

    # The same file again: refused on the form, in words, not with an error page.
    _open_upload_form(page, live_server)
    _upload(page, path)
    expect(page.locator(".errornote")).to_contain_text(
        "This token file has already been uploaded as"
    )
    expect(page.locator("h1")).to_have_text("Upload a token")
    screenshot("token-upload-duplicate")


def test_upload_of_a_file_that_is_not_base64_says_why(
    live_server, sign_in, portal_admin, apple, tmp_path, screenshot
):
    path = tmp_path / "notes.vpptoken"
    path.write_text("Dear IT, here is the token you asked for! <3\n", encoding="utf-8")
    page = sign_in(portal_admin)
    _open_upload_form(page, live_server)

    _upload(page, path)

    expect(page.locator(".errornote")).to_contain_text(
        "The file is not a content token: it is not Base64 text."
    )
    # What the admin typed is kept, so only the file needs choosing again.
    expect(page.locator("#id_apple_id")).to_have_value("books@springfield.example")
    screenshot("token-upload-not-base64")
