"""An operator presses "Sync now" on a token and watches the run finish without reloading."""

from __future__ import annotations

import re
import threading
import time

import pytest
from django.db import connection
from playwright.sync_api import expect

from sync.models import SyncRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _execute_in_background(run_id: int) -> threading.Thread:
    """What a Celery worker does with the queued run, in a thread of this process."""
    from sync.services import sync_run_execute

    def work() -> None:
        try:
            sync_run_execute(run_id=run_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work, name=f"sync-run-{run_id}", daemon=True)
    thread.start()
    return thread


def test_sync_now_shows_live_progress_until_the_run_succeeds(
    live_server, sign_in, operator, vpp_token, queued_tasks, screenshot
):
    page = sign_in(operator)
    page.goto(f"{live_server.url}/admin/tokens/vpptoken/{vpp_token.pk}/change/")

    page.get_by_role("button", name="Sync now").click()

    expect(page).to_have_url(re.compile(r"/admin/sync/syncrun/\d+/change/$"))
    expect(page.locator(".messagelist")).to_contain_text(f"Sync of “{vpp_token}” queued.")
    run = SyncRun.objects.get(token=vpp_token)
    assert queued_tasks == [("sync.tasks.sync_token", (run.pk,))]
    progress = page.locator(".sync-progress")
    expect(progress.locator("[data-field=state_label]")).to_have_text("Queued")
    expect(progress.locator(".sync-progress__error")).to_be_hidden()
    screenshot("sync-run-queued")
    # Anything the page keeps in memory survives only if it is never reloaded.
    page.evaluate("window.__notReloaded = true")

    worker = _execute_in_background(run.pk)
    try:
        expect(progress.locator("[data-field=state_label]")).to_have_text("Succeeded")
        expect(progress.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
        expect(progress.locator(".sync-progress__fill")).to_have_attribute(
            "style", re.compile(r"width:\s*100%")
        )
    finally:
        worker.join(timeout=30)
    assert not worker.is_alive()

    run.refresh_from_db()
    assert run.state == SyncRun.State.SUCCEEDED
    assert run.books_added > 0
    expect(progress.locator('[data-counter="books added"]')).to_have_text(str(run.books_added))
    expect(progress.locator('[data-counter="Apple requests"]')).to_have_text(
        str(run.apple_requests)
    )
    expect(progress).to_have_attribute("data-active", "0")
    expect(progress.locator(".sync-progress__error")).to_be_hidden()
    expect(progress.locator(".sync-progress__stale")).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True
    # Let the bar's width transition end, so the picture shows what a person sees. Polled from
    # here: wait_for_function compiles its predicate with eval(), which the portal's
    # Content-Security-Policy (rightly) refuses.
    filled = (
        "document.querySelector('.sync-progress__fill').getBoundingClientRect().width"
        " >= document.querySelector('.sync-progress__bar').getBoundingClientRect().width - 1"
    )
    deadline = time.monotonic() + 8
    while not page.evaluate(filled):
        assert time.monotonic() < deadline, "the progress bar never reached its full width"
        page.wait_for_timeout(50)
    screenshot("sync-run-succeeded")


def test_second_sync_now_while_one_is_queued_joins_it(
    live_server, sign_in, operator, vpp_token, queued_tasks
):
    page = sign_in(operator)
    token_page = f"{live_server.url}/admin/tokens/vpptoken/{vpp_token.pk}/change/"
    page.goto(token_page)
    page.get_by_role("button", name="Sync now").click()
    expect(page).to_have_url(re.compile(r"/admin/sync/syncrun/\d+/change/$"))
    first = page.url

    page.goto(token_page)
    page.get_by_role("button", name="Sync now").click()

    expect(page).to_have_url(first)
    expect(page.locator(".messagelist")).to_contain_text("is already queued")
    assert SyncRun.objects.filter(token=vpp_token).count() == 1
    assert len(queued_tasks) == 1
