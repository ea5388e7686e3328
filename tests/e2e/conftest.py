from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop; Django's ORM refuses "async-unsafe" calls from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


# --- helpers shared by the browser tests ----------------------------------------------------

PASSWORD = "pw-for-tests"  # the role users of tests/conftest.py


@pytest.fixture(autouse=True)
def _expect_timeout():
    """Playwright expectations poll until this deadline: long enough for a slow CI box."""
    from playwright.sync_api import expect

    expect.set_options(timeout=8_000)


@pytest.fixture
def sign_in(live_server, page):
    """Sign a user in through the login form, as a person would; returns the page."""
    from playwright.sync_api import expect

    def _sign_in(user, password: str = PASSWORD):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text(user.username)
        return page

    return _sign_in


@pytest.fixture
def screenshot(page, tmp_path):
    """Save a full-page screenshot; to $E2E_SCREENSHOT_DIR when set (to look at), else tmp."""
    folder = Path(os.environ.get("E2E_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def _shot(name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


@pytest.fixture
def queued_tasks(monkeypatch) -> list[tuple[str, tuple]]:
    """Record what would go to Celery instead of sending it: the test decides what runs."""
    from celery import Task

    from sync import tasks

    sent: list[tuple[str, tuple]] = []
    for task in vars(tasks).values():
        if isinstance(task, Task):
            monkeypatch.setattr(
                task, "delay", lambda *args, _name=task.name, **kw: sent.append((_name, args))
            )
    return sent


@pytest.fixture
def synced_token(vpp_token, queued_tasks):
    """The simulator's demo token, synced once in the foreground as `vpp_sync` does."""
    from sync.models import SyncRun
    from sync.services import sync_request, sync_run_execute

    request = sync_request(token=vpp_token, trigger=SyncRun.Trigger.COMMAND, enqueue=False)
    run = sync_run_execute(run_id=request.run.pk)
    assert run.state == SyncRun.State.SUCCEEDED, run.error_message
    return vpp_token
