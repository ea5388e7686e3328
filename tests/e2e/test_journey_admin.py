"""Journeys of a portal admin: a token from upload to licenses in people's hands (issue 14, 2-4).

A real Celery worker (in a thread, on the configured broker) runs what the pages queue, so
"runs by itself" means nobody presses anything.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from assignments.models import License
from ebooks.models import EBook
from tests.e2e.conftest import assert_fits
from tests.factories import PersonFactory, UserGroupFactory
from tokens.models import VppToken

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _upload(page, live_server, path, *, apple_id="books@springfield.example"):
    page.goto(f"{live_server.url}/admin/tokens/vpptoken/")
    page.locator(".object-tools").get_by_role("link", name="Add VPP token").click()
    expect(page.locator("h1")).to_have_text("Upload a token")
    page.set_input_files("#id_token_file", str(path))
    page.fill("#id_apple_id", apple_id)
    page.get_by_label("Education", exact=True).check()
    page.get_by_role("button", name="Upload token").click()


def _reload_until(page, locator, text: str, *, seconds: float = 30) -> None:
    """Work done by the worker shows up on the next page load: reload until it does."""
    deadline = time.monotonic() + seconds
    while text not in locator.inner_text():
        assert time.monotonic() < deadline, f"“{text}” never appeared on {page.url}"
        page.wait_for_timeout(500)
        page.reload()


def test_upload_sync_assign_required_licenses_reach_people(
    live_server, sign_in, portal_admin, token_file, tmp_path, live_worker, screenshot
):
    readers = PersonFactory.create_batch(3, managed=True)  # managed Apple IDs: no invitation
    UserGroupFactory(name="Year 7 readers", members=readers)
    path = tmp_path / "Main Library.vpptoken"
    path.write_bytes(token_file(location="Main Library", org="Springfield Schools"))
    page = sign_in(portal_admin)

    # Upload: valid, with organisation, location and expiry; its first sync queued by itself.
    _upload(page, live_server, path)
    expect(page).to_have_url(re.compile(r"/admin/tokens/vpptoken/\d+/change/$"))
    token = VppToken.objects.get()
    expect(page.locator(".messagelist")).to_contain_text("Shelfkeeper manages its location")
    expect(page.locator(".messagelist")).to_contain_text("Its first sync is queued")
    expect(page.locator(".field-state_badge")).to_contain_text("Valid")
    expect(page.locator(".field-org_name")).to_contain_text("Springfield Schools")
    expect(page.locator(".field-location_name")).to_contain_text("Main Library")
    expect(page.locator(".field-expires")).to_contain_text(f"{token.expires_at:%Y-%m-%d}")
    assert_fits(page)

    # The run page's bar moves to done without anyone pressing Sync now.
    page.get_by_role("link", name="follow the sync").click()
    progress = page.locator(".sync-progress")
    expect(progress.locator("[data-field=state_label]")).to_have_text("Succeeded", timeout=30_000)
    expect(progress.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    screenshot("journey2-first-sync-done")

    # Books with covers and counts.
    page.goto(f"{live_server.url}/admin/ebooks/ebook/")
    rows = page.locator("#result_list tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() > 10
    cover = page.locator("#result_list img.ebook-cover").first
    cover.scroll_into_view_if_needed()
    page.wait_for_function(
        "document.querySelector('#result_list img.ebook-cover').naturalWidth > 0"
    )
    for column in ("Total", "Assigned", "Available"):
        expect(page.locator("#result_list thead")).to_contain_text(column)
    screenshot("journey2-books")

    # Assign a book to the group as Required, from the book's own page.
    book = (
        EBook.objects.filter(token=token, unlimited=False, available_count__gte=10)
        .order_by("title")
        .first()
    )
    page.goto(f"{live_server.url}/admin/ebooks/ebook/{book.pk}/change/")
    page.get_by_role("link", name="Assign to groups").click()
    expect(page.locator("h1")).to_have_text(f"Assign “{book}” to groups")
    page.locator("#id_groups + .select2 .select2-selection").click()
    page.locator("#id_groups + .select2 .select2-search__field").fill("Year 7")
    page.locator(".select2-results__option", has_text="Year 7 readers").click()
    page.get_by_label("Required", exact=True).check()
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("3 people are targeted.")
    expect(preview).to_contain_text("This will permanently use 3 licenses.")
    expect(preview.locator(".portal-banner--error")).to_contain_text(
        "Book licenses can never be reclaimed"
    )
    screenshot("journey2-assign-preview")
    page.get_by_label("I understand these 3 licenses can never be taken back").check()
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text("assigned to Year 7 readers")

    # The reconciler (queued by the assignment) hands the licenses out: the person page says so.
    person = readers[0]
    page.goto(f"{live_server.url}/admin/assignments/person/{person.pk}/change/")
    licenses = page.locator("#licenses-group")
    _reload_until(page, licenses, "Assigned")
    expect(licenses).to_contain_text(book.title)
    assert License.objects.filter(ebook=book, state=License.State.ASSIGNED).count() == 3
    screenshot("journey2-person-licensed")

    # And the book page shows the three holders and the assignment.
    page.goto(f"{live_server.url}/admin/ebooks/ebook/{book.pk}/change/")
    expect(page.locator("[data-figure=holders]")).to_have_text("3")
    expect(page.locator(".report-book")).to_contain_text("Year 7 readers")
    expect(page.locator(".report-book")).to_contain_text("Required")
    page.locator("[data-figure=holders]").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    screenshot("journey2-book-holders")


def test_claimed_by_another_product_shows_banner_and_take_control_needs_confirmation(
    live_server, sign_in, portal_admin, apple, vpp_token, screenshot
):
    from tokens.crypto import decrypt
    from tokens.services import tokens_check_all

    portal_admin.email = "it@springfield.example"  # the claim alert reaches somebody
    portal_admin.save()
    content = decrypt(vpp_token.secret_ciphertext)
    apple.claim_by_other(content)
    tokens_check_all()  # the daily check (or any sync) finds another product's claim
    page = sign_in(portal_admin)

    # A banner on every page, and the state on the token list.
    for url in ("/admin/", "/admin/ebooks/ebook/", "/admin/tokens/vpptoken/"):
        page.goto(live_server.url + url)
        expect(page.locator(".portal-banner--error")).to_contain_text(
            "is assigned to another product"
        )
    expect(page.locator("#result_list .portal-badge")).to_have_text(["Assigned to another product"])
    page.locator("#result_list a", has_text=vpp_token.name).click()
    expect(page.locator(".field-foreign_holder")).not_to_contain_text("Shelfkeeper")
    page.get_by_role("link", name="Take control").click()
    expect(page.locator("h1")).to_have_text(f"Take control of {vpp_token.name}")
    expect(page.locator(".portal-banner--warning")).to_contain_text("one management product")

    # Without the confirmation nothing changes, at Apple or here.
    page.get_by_role("button", name="Take control").click()
    expect(page.locator(".errorlist")).to_contain_text("This field is required")
    assert VppToken.objects.get().state == VppToken.State.CLAIMED_ELSEWHERE
    page.get_by_label("I understand that the other product will stop managing").check()
    page.get_by_role("button", name="Take control").click()

    expect(page.locator(".messagelist .success")).to_contain_text("Shelfkeeper now manages")
    expect(page.locator(".field-state_badge")).to_contain_text("Valid")
    expect(page.locator(".portal-banner--error")).to_have_count(0)
    assert apple.location(content).mdm_info["id"] != "other-mdm-7f3c2a91"  # ours again
    screenshot("journey3-took-control")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"Dear IT, here is the token you asked for! <3\n", "it is not Base64 text"),
        (b"[" * 20_000, "it is not Base64 text"),
    ],
    ids=["a-letter", "brackets"],
)
def test_bad_token_file_gets_a_clear_error_and_nothing_is_saved(
    live_server, sign_in, portal_admin, apple, tmp_path, content, says, screenshot, request
):
    path = tmp_path / "token.vpptoken"
    path.write_bytes(content)
    page = sign_in(portal_admin)
    _upload(page, live_server, path)
    expect(page.locator("h1")).to_have_text("Upload a token")
    expect(page.locator(".errornote")).to_contain_text(says)
    expect(page.locator("#id_apple_id")).to_have_value("books@springfield.example")
    assert not VppToken.objects.exists()
    screenshot(f"journey4-bad-token-{request.node.callspec.id}")
