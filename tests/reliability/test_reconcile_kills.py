"""A reconcile process killed with SIGKILL at every step: the next run converges, and Apple is
never asked for the same license twice (counted on the simulator's side)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apple.client import clear_service_config_cache
from apple.simulator import Simulator
from assignments.models import GroupAssignment, License
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import outbox
from sync.reconcile.foreground import Foreground
from sync.reconcile.runs import reconcile_request, reconcile_runs_reap
from tests.factories import PersonFactory, UserGroupFactory
from tokens.clients import client_user_id_prefix
from tokens.crypto import decrypt
from tokens.services import token_import

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PEOPLE = 8


class Clock:
    """The simulator's clock, moved by the test (Apple's events finish when we say so)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def sim_clock():
    return Clock()


@pytest.fixture
def apple(settings, sim_clock):
    spec = f"books=4,users=0,assignments=0,apps=0,prefix={client_user_id_prefix()},seed=7"
    # Two people per associate request: several requests, so a kill lands between them.
    sim = Simulator(generate=spec, limits={"maxClientUserIds": 2}, clock=sim_clock)
    sim.start(port=0)
    settings.VPP_SERVICE_URL, settings.VPP_STORE_LOOKUP_URL = sim.api_url, sim.lookup_url
    clear_service_config_cache()
    yield sim
    sim.stop()
    clear_service_config_cache()


@pytest.fixture
def token(apple, sync_now):
    imported = token_import(
        file_bytes=apple.issue_token(org="District", location="Depot").encode(),
        apple_id="a@b.example",
        account_type="education",
    )
    sync_now(imported)
    return imported


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker(apple, token) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": _database_url(),
        "VAR_DIR": str(settings.VAR_DIR),
        "TEST_WORKER_VPP_SERVICE_URL": apple.api_url,
        "TEST_WORKER_VPP_STORE_LOOKUP_URL": apple.lookup_url,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "vpp_reconcile", "--token", str(token.pk), "--wait", "60"],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _new_events(since: int):
    return AppleEvent.objects.filter(pk__gt=since, kind=AppleEvent.Kind.LICENSES)


def _answered(since: int):
    """Requests Apple answered (an outbox event is written before its request leaves)."""
    return _new_events(since).exclude(state=AppleEvent.State.SENDING)


def _last_event() -> int:
    return AppleEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _kill_when(worker, condition, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if condition():
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            return
        assert worker.poll() is None, worker.stdout.read().decode()
        time.sleep(0.02)
    worker.kill()
    pytest.fail(f"the reconcile never reached the point: {what}")


def _books(token):
    # The generated books all have licenses to spare; the first three, in a stable order.
    return list(EBook.objects.filter(token=token).order_by("pk")[:3])


def _registered_people(token):
    """People who already have Apple users (registered in this process, undisturbed)."""
    people = PersonFactory.create_batch(PEOPLE, managed=True)
    first = _books(token)[0]
    group_assignment_create(
        ebook=first,
        groups=[UserGroupFactory(members=people)],
        intent=GroupAssignment.Intent.AVAILABLE,
        confirmed_irrevocable=True,
    )
    _finish(token)
    return people


def _assign_rest(token, people):
    group = UserGroupFactory(members=people)
    for book in _books(token)[1:]:
        GroupAssignment.objects.create(ebook=book, group=group, intent="available")


def _finish(token) -> Foreground:
    foreground = Foreground(driven=True)
    with foreground.installed():
        reconcile_request(token=token, trigger=ReconcileRun.Trigger.MANUAL)
        foreground.settle(token)
    return foreground


def _after_kill(apple, token) -> None:
    """What the next minutes bring: the requests the killed worker left in flight are answered
    (a slow one was still at Apple: taking its licenses for lost re-requested them), the
    reaper frees the run, stranded rows are old enough."""
    deadline = time.monotonic() + 30
    while apple.requests_in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not apple.requests_in_flight, "the simulator never answered the killed worker"
    assert reconcile_runs_reap(now=timezone.now() + timedelta(minutes=4)) <= 1
    stranded = [pk for _, pk in outbox.licenses_stranded(token=token)]
    License.objects.filter(pk__in=stranded).update(updated_at=timezone.now() - timedelta(minutes=5))
    _finish(token)


def _assert_converged(apple, token) -> None:
    books = _books(token)
    states = set(License.objects.filter(ebook__in=books).values_list("state", flat=True))
    assert states == {License.State.ASSIGNED}
    assert License.objects.filter(ebook__in=books).count() == PEOPLE * len(books)
    twice = [key for key, count in apple.requested_licenses.items() if count > 1]
    assert twice == []
    content = decrypt(token.secret_ciphertext)
    for book in books:
        # Apple's own count (it started at 0): one license per person, none spent twice.
        assert apple.asset(content, book.adam_id, book.pricing_param)["assignedCount"] == PEOPLE


def test_killed_between_requests_then_the_next_run_converges(apple, token):
    people = _registered_people(token)
    _assign_rest(token, people)
    apple.set_faults("slow:delay=0.4:path=/assets/associate")
    since = _last_event()
    worker = _worker(apple, token)
    _kill_when(
        worker,
        lambda: _answered(since).count() >= 2,
        "some associate requests sent, others not",
    )
    apple.clear_faults()
    assert License.objects.filter(state=License.State.PENDING).exists()
    _after_kill(apple, token)
    _assert_converged(apple, token)


def test_killed_before_the_write_is_answered_then_the_next_run_converges(apple, token):
    people = _registered_people(token)
    _assign_rest(token, people)
    apple.set_faults("slow:delay=2:path=/assets/associate")
    since = _last_event()
    worker = _worker(apple, token)
    _kill_when(
        worker,
        lambda: (
            _new_events(since).filter(state=AppleEvent.State.SENDING).exists()
            and not _answered(since).exists()
        ),
        "licenses written as pending, the request not answered",
    )
    apple.clear_faults()
    time.sleep(2.5)  # the simulator finishes the request the dead process sent
    _after_kill(apple, token)
    _assert_converged(apple, token)


def test_killed_while_following_apple_then_the_next_run_converges(apple, token, sim_clock):
    people = _registered_people(token)
    _assign_rest(token, people)
    since_run = ReconcileRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    since = _last_event()
    apple.set_event_delay(30)  # Apple works on the requests for half a minute
    worker = _worker(apple, token)
    _kill_when(
        worker,
        lambda: (
            ReconcileRun.objects.filter(pk__gt=since_run, state="succeeded").exists()
            and _new_events(since).filter(state=AppleEvent.State.PENDING).count() == 4
        ),
        "every request sent, events pending",
    )
    sim_clock.offset += 60  # Apple finishes meanwhile
    _after_kill(apple, token)
    _assert_converged(apple, token)
