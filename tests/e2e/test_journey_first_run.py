"""Journey 1: a first run (`portal_setup`, as `make run` calls it), sign in, see the demo."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from sync.models import SyncRun
from tokens.models import VppToken

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def make_run_simulator(settings):
    """The simulator `make run` starts next, on the state portal_setup left behind."""
    from apple.client import clear_service_config_cache
    from apple.simulator import Simulator
    from sync.setup import simulator_state_path

    started = []

    def _start() -> None:
        simulator = Simulator(state_path=simulator_state_path(), event_delay=0.0)
        simulator.start(port=0)
        started.append(simulator)
        settings.VPP_SERVICE_URL = simulator.api_url
        settings.VPP_STORE_LOOKUP_URL = simulator.lookup_url
        clear_service_config_cache()

    yield _start
    for simulator in started:
        simulator.stop()
    clear_service_config_cache()


def test_first_run_sign_in_and_the_demo_token_with_books_and_counts(
    live_server, page, settings, tmp_path, apple, queued_tasks, make_run_simulator, screenshot
):
    from sync.services import sync_run_execute

    settings.VAR_DIR = tmp_path
    output = io.StringIO()
    call_command("portal_setup", "--email", "it@springfield.example", stdout=output)
    printed = output.getvalue()
    assert "Imported the demo token" in printed
    url = re.search(r"Shelfkeeper admin: (\S+)", printed).group(1)
    assert url == "http://127.0.0.1:8000/admin/"
    password = re.search(r"password: (\S+)", printed).group(1)

    # What the worker does with the first sync portal_setup queued.
    (run,) = SyncRun.objects.all()
    assert queued_tasks == [("sync.tasks.sync_token", (run.pk,))]
    make_run_simulator()
    assert sync_run_execute(run_id=run.pk).state == SyncRun.State.SUCCEEDED

    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#dashboard-title")).to_be_visible()
    expect(page).to_have_title("Dashboard | Shelfkeeper")

    # The dashboard: the demo token, valid, with its books and license counts.
    token = VppToken.objects.get()
    assert token.book_count > 25
    row = page.locator("tr.report-token")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Central Library (demo)")
    expect(row.locator(".portal-badge")).to_have_text("Valid")
    expect(row.locator("[data-figure=books]")).to_have_text(str(token.book_count))
    expect(row.locator("[data-figure=total]")).to_have_text(re.compile(r"^[1-9]\d*$"))
    screenshot("journey1-first-run-dashboard")

    # Its books, one click away.
    row.locator("[data-figure=books]").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(token.book_count)
