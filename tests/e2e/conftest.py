from __future__ import annotations

import os
import re
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


VIEWPORT = {"width": 1280, "height": 800}  # the laptop screen the portal must fit (issue 14)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def assert_fits(page) -> None:
    """The page does not scroll sideways at 1,280 px: every column that matters is on screen."""
    sizes = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], f"{page.url} scrolls sideways: {sizes[0]} > {sizes[1]} px"
    # The admin wraps result tables in a box that scrolls on its own: clipped columns too.
    clipped = page.evaluate(
        """[...document.querySelectorAll('#changelist .results, .module, fieldset')]
             .filter(e => e.scrollWidth > e.clientWidth + 1)
             .map(e => (e.id || e.className) + ' ' + e.scrollWidth + '>' + e.clientWidth
                  + ' widest: ' + [...e.querySelectorAll('*')].filter(c =>
                      c.getBoundingClientRect().right > e.getBoundingClientRect().right + 1)
                    .slice(0, 3).map(c => c.tagName + '.' + c.className).join(','))"""
    )
    assert not clipped, f"{page.url} clips a box sideways: {clipped}"


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
def screenshot(page):
    """Save a full-page screenshot under var/screenshots/ (or $E2E_SCREENSHOT_DIR), git-ignored.

    Every screen saved is also checked for sideways scrolling at 1,280 px.
    """
    folder = Path(os.environ.get("E2E_SCREENSHOT_DIR") or REPO / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def _shot(name: str, other_page=None) -> Path:
        shown = other_page or page  # another person's browser, when a journey has two
        assert_fits(shown)
        path = folder / f"{name}.png"
        shown.screenshot(path=str(path), full_page=True)
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


# --- what a role may see ---------------------------------------------------------------------

WRITE_LINKS = re.compile(r"^(Add|Assign|Import|Upload|Renew|Take control|Invite)", re.I)
PORTAL_ADMIN_ONLY = (
    "/admin/tokens/vpptoken/add/",
    "/admin/assignments/groupassignment/assign/",
    "/admin/assignments/person/import/",
    "/admin/assignments/usergroup/add/",
    "/admin/staff/staffmember/",
)


def assert_read_only(
    page, *, actions: frozenset[str] = frozenset({"Sync now", "Reconcile now"})
) -> None:
    """Nothing on the page writes: no add/assign/import/upload links, no save, no file input."""
    from playwright.sync_api import expect

    expect(page.locator(".object-tools a").filter(has_text=WRITE_LINKS)).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)
    expect(page.locator("input[name=_save], input[name=_continue]")).to_have_count(0)
    options = page.locator("select[name=action] option").all_inner_texts()
    assert set(options) <= {"---------", *actions}, f"{page.url}: actions {options}"


def menu_links(page) -> list[str]:
    """Every page of the menu row the signed-in person is shown."""
    return page.locator(".portal-nav a").evaluate_all("links => links.map(a => a.href)")


def wait_until(page, check, *, seconds: float = 8.0) -> None:
    """Poll from here until `check` (a page expression, or a callable) is true.

    Playwright's own in-page polling (wait_for_function) evaluates strings, which the
    portal's Content-Security-Policy rightly refuses.
    """
    import time

    deadline = time.monotonic() + seconds
    while not (check() if callable(check) else page.evaluate(check)):
        assert time.monotonic() < deadline, f"never true on {page.url}: {check}"
        page.wait_for_timeout(100)
