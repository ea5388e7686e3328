"""Journey 9: a person accepts Apple's invitation and gets the book; nobody presses Sync now."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from playwright.sync_api import expect

from assignments.models import GroupAssignment, License
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.models import SyncRun
from sync.services import sync_request, sync_run_execute
from tests.factories import PersonFactory, UserGroupFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _reload_until(page, locator, text: str, *, seconds: float = 40) -> None:
    """What the worker does shows on the next page load: reload until it does (deadline)."""
    deadline = time.monotonic() + seconds
    while text not in locator.inner_text():
        assert time.monotonic() < deadline, f"“{text}” never appeared on {page.url}"
        page.wait_for_timeout(500)
        page.reload()


def test_accepted_invitation_is_licensed_without_a_manual_sync(
    live_server, settings, apple, vpp_token, sign_in, portal_admin, live_worker, screenshot
):
    # Apple's notifications reach this portal (make run sets PUBLIC_URL the same way).
    settings.PUBLIC_URL = live_server.url
    run = sync_request(token=vpp_token, trigger=SyncRun.Trigger.COMMAND, enqueue=False).run
    assert sync_run_execute(run_id=run.pk).state == SyncRun.State.SUCCEEDED
    book = EBook.objects.filter(token=vpp_token, unlimited=False, available_count__gte=5).first()
    sam = PersonFactory(email="sam@springfield.example", display_name="Sam Reader")
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(name="Year 8", members=[sam])],
        intent=GroupAssignment.Intent.AVAILABLE,
        confirmed_irrevocable=True,
    )
    page = sign_in(portal_admin)
    page.goto(f"{live_server.url}/admin/assignments/person/{sam.pk}/change/")
    licenses = page.locator("#licenses-group")
    _reload_until(page, licenses, "Waiting for the invitation")

    # Sam accepts the invitation from the email Shelfkeeper sent; then nobody does anything.
    (invitation,) = [m for m in mail.outbox if m.to == ["sam@springfield.example"]]
    code = re.search(r"inviteCode=([\w-]+)", invitation.body).group(1)
    apple.accept_invitation(code)
    _reload_until(page, licenses, "Assigned")
    expect(licenses).to_contain_text(book.title)
    assert License.objects.get(person=sam, ebook=book).state == License.State.ASSIGNED
    assert not SyncRun.objects.exclude(pk=run.pk).exists()  # no sync was needed
    screenshot("journey9-licensed-after-accepting")
