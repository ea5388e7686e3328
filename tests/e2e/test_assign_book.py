"""A portal admin assigns a book to a group: preview, the irrevocability warning, confirmation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from assignments.models import GroupAssignment
from tests.factories import (
    EBookFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
    VppTokenFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dracula():
    """A book with licenses to spare, a group of three, one of whom already holds the book."""
    book = EBookFactory(
        token=VppTokenFactory(name="Main Library"),
        title="Dracula",
        author="Bram Stoker",
        total_count=350,
        available_count=349,
        assigned_count=1,
    )
    people = PersonFactory.create_batch(3)
    UserGroupFactory(name="Year 7 readers", members=people)
    UserGroupFactory(name="Staff")
    LicenseFactory(ebook=book, person=people[0])
    return book


def _choose_group(page, name: str) -> None:
    """The groups field is an autocomplete (select2): type, then pick the suggestion."""
    page.locator("#id_groups + .select2 .select2-selection").click()
    page.locator("#id_groups + .select2 .select2-search__field").fill(name[:6])
    page.locator(".select2-results__option", has_text=name).click()
    expect(page.locator("#id_groups + .select2 .select2-selection__choice")).to_have_text(
        re.compile(name)
    )


def test_assign_shows_the_preview_and_needs_the_irrevocability_confirmation(
    live_server, sign_in, portal_admin, dracula, queued_tasks, screenshot
):
    page = sign_in(portal_admin)
    page.goto(f"{live_server.url}/admin/ebooks/ebook/{dracula.pk}/change/")

    page.get_by_role("link", name="Assign to groups").click()

    expect(page.locator("h1")).to_have_text("Assign “Dracula” to groups")
    _choose_group(page, "Year 7 readers")
    page.get_by_label("Required", exact=True).check()
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#preview")
    expect(preview).to_contain_text("3 people are targeted.")
    expect(preview).to_contain_text("1 of them already holds this book")
    expect(preview).to_contain_text("This will permanently use 2 licenses.")
    warning = preview.locator(".portal-banner--error")
    expect(warning).to_contain_text("Book licenses can never be reclaimed")
    expect(warning.locator("strong")).to_have_text("2")
    expect(page.locator("#id_confirm")).not_to_be_checked()
    screenshot("assign-preview")

    # Assigning without ticking the box is refused, in words, and nothing is saved.
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".errorlist")).to_contain_text(
        "Tick the box to confirm that these licenses can never be taken back."
    )
    assert not GroupAssignment.objects.exists()
    screenshot("assign-refused")

    page.get_by_label("I understand these 2 licenses can never be taken back").check()
    page.get_by_role("button", name="Assign", exact=True).click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        "“Dracula” assigned to Year 7 readers (Required)."
    )
    expect(page).to_have_url(re.compile(rf"groupassignment/\?ebook__id__exact={dracula.pk}$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assignment = GroupAssignment.objects.get()
    assert (assignment.ebook, assignment.group.name, assignment.intent) == (
        dracula,
        "Year 7 readers",
        GroupAssignment.Intent.REQUIRED,
    )
