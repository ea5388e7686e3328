"""The reconcile's fault matrix against the simulator, and reconciles racing each other: every
fault ends with the right run and token state and a plain message, the next reconcile once Apple
recovers gives everyone the book, and no license is ever requested (paid for) twice."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from assignments.models import License
from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import queue
from sync.reconcile.follow import events_follow_up
from sync.reconcile.push import Push, reconcile_run_execute
from sync.reconcile.runs import ACTIVE, reconcile_request
from tests.factories import PersonFactory
from tests.sync.conftest import sync_now  # noqa: F401 - shared fixture
from tests.sync.reconcile_driver import Driver, reconciler  # noqa: F401 - shared fixture
from tests.sync.test_reconcile_runs import _assign, _books, _register_people, _requested_twice
from tokens.crypto import decrypt
from tokens.models import VppToken
from tokens.services import token_renew, token_take_control

pytestmark = pytest.mark.django_db
RunState = ReconcileRun.State
TokenState = VppToken.State
Assigned = License.State.ASSIGNED


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Short timeouts and budgets: the decisions are what is tested, not the waiting."""
    monkeypatch.setattr(
        "tokens.clients.BACKGROUND_RETRY",
        {"max_attempts": 3, "max_total_wait": 2.0, "timeout": (0.5, 0.6)},
    )


@pytest.fixture
def synced(apple, vpp_token, sync_now):  # noqa: F811 - the fixture imported above
    sync_now(vpp_token)
    return vpp_token


def _plain(message: str) -> None:
    assert message and len(message) < 1000, message
    for leak in ("Traceback", "Error(", "requests.", 'File "', "urllib3"):
        assert leak not in message, message


# fault spec, the state the faulted run ends in, the token's state after, words in the message
FAULTS = [
    ("429:next=2:retry_after=0.1", RunState.SUCCEEDED, TokenState.VALID, ""),
    ("429:retry_after=30", RunState.PARTIAL, TokenState.VALID, "too many requests"),
    ("500", RunState.PARTIAL, TokenState.VALID, "internal error"),
    ("503", RunState.PARTIAL, TokenState.VALID, "temporary problem"),
    ("500:path=/assets/associate", RunState.PARTIAL, TokenState.VALID, "internal error"),
    ("slow:delay=1.2:path=/assets", RunState.PARTIAL, TokenState.VALID, "temporary problem"),
    ("garbage:path=/assets/associate", RunState.PARTIAL, TokenState.VALID, "may still"),
    ("expired", RunState.FAILED, TokenState.EXPIRED, "expired"),
    ("revoked", RunState.FAILED, TokenState.INVALID, "revoked"),
    ("claimed:path=/assets", RunState.FAILED, TokenState.CLAIMED_ELSEWHERE, "Another"),
]


@pytest.mark.parametrize(("spec", "run_state", "token_state", "words"), FAULTS)
def test_a_fault_mid_reconcile_ends_plainly_and_the_next_run_converges_without_double_spend(
    reconciler,  # noqa: F811 - the fixture imported above
    apple,
    synced,
    token_file,
    spec,
    run_state,
    token_state,
    words,
):
    people = PersonFactory.create_batch(3, managed=True)
    _register_people(reconciler, synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)

    apple.set_faults(spec)
    faulted = reconciler.drive(synced)
    run = faulted.last
    assert run.state == run_state, (run.state, run.error_message)
    assert not apple.faults.rules() or "next=" not in spec  # the fault did fire
    synced.refresh_from_db()
    assert synced.state == token_state
    if run.state != RunState.SUCCEEDED:
        _plain(run.error_message)
        assert words.lower() in run.error_message.lower(), run.error_message
    assert _requested_twice(apple) == []

    # Apple recovers; the admin takes the location back from the other product, or renews the
    # refused token with a new file. Time passes beyond the grace given to rows whose answer was
    # lost before Apple is asked about them.
    apple.clear_faults()
    if token_state == TokenState.CLAIMED_ELSEWHERE:
        token_take_control(token=synced)
    elif token_state != TokenState.VALID:
        refused = reconciler.drive(synced)
        assert refused.last.state == RunState.FAILED
        assert refused.apple_requests == 0  # a refused token is not even tried
        token_renew(token=synced, file_bytes=token_file())
    License.objects.filter(ebook=book).update(updated_at=timezone.now() - timedelta(minutes=5))
    recovered = reconciler.drive(synced)
    assert recovered.last.state == RunState.SUCCEEDED, recovered.last.error_message
    states = dict(License.objects.filter(ebook=book).values_list("person_id", "state"))
    assert states == {p.pk: Assigned for p in people}
    assert _requested_twice(apple) == []
    assert len(_held_at_apple(apple, book)) == len(people)


# --- reconciles racing each other ------------------------------------------------------------

TOTAL = 2  # licenses the contested book has left
PEOPLE = 5


class Workers:
    """Worker threads sharing one task queue, each with its own database connection: every
    queued step is delivered to exactly one of them (as Celery does), follow-ups run on any."""

    def __init__(self, monkeypatch) -> None:
        self.tasks: list[int] = []
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []
        monkeypatch.setattr(queue, "run_enqueue", self._enqueue)
        monkeypatch.setattr(queue, "follow_up_enqueue", lambda *, token_id, countdown: None)
        monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda *args: None)

    def _enqueue(self, *, run_id: int, countdown: float = 0) -> None:
        with self.lock:
            self.tasks.append(run_id)

    def _next(self) -> int | None:
        with self.lock:
            return self.tasks.pop(0) if self.tasks else None

    def _work(self, token, barrier: threading.Barrier) -> None:
        try:
            barrier.wait(timeout=30)
            # Everyone presses Reconcile now at once: the database lets one run through.
            reconcile_request(token=token, trigger=ReconcileRun.Trigger.MANUAL)
            now = timezone.now()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                run_id = self._next()
                if run_id is not None:
                    reconcile_run_execute(run_id=run_id)
                    continue
                pending = AppleEvent.objects.filter(token=token, state=AppleEvent.State.PENDING)
                due = pending.aggregate(due=Min("next_check_at"))["due"]
                if due is not None:  # the clock is driven to the check, not waited for
                    now = max(now, due) + timedelta(milliseconds=1)
                    events_follow_up(token=token, now=now, schedule=False)
                elif (
                    not ReconcileRun.objects.filter(token=token, state__in=ACTIVE).exists()
                    and not self.tasks
                ):
                    return
            raise AssertionError("the reconcile did not settle within 30 s")
        except BaseException as error:  # reported by the test
            self.errors.append(error)
        finally:
            connection.close()

    def run(self, token, count: int) -> None:
        barrier = threading.Barrier(count)
        threads = [threading.Thread(target=self._work, args=(token, barrier)) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a worker hung"
        assert not self.errors, self.errors


def _contested(token, apple, book, people):
    """Leave the book TOTAL licenses and target more people than that."""
    content = decrypt(token.secret_ciphertext)
    available = apple.asset(content, book.adam_id, book.pricing_param)["availableCount"]
    apple.change_license_count(content, book.adam_id, book.pricing_param, -(available - TOTAL))
    _assign(book, people)
    return content


def _rows(book, people) -> list[tuple]:
    """The book's license rows, people named by their place in the list (comparable)."""
    place = {p.pk: i for i, p in enumerate(people)}
    return sorted(
        (place[r.person_id], r.state, r.error_number, r.error_message, bool(r.event_id))
        for r in License.objects.filter(ebook=book)
    )


def _held_at_apple(apple, book) -> set[str]:
    key = (book.adam_id, book.pricing_param)
    return {c for (a, p, c) in apple.requested_licenses if (a, p) == key}


def _registered(token, people) -> None:
    with Driver().installed() as driver:
        _register_people(driver, token, people)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_reconciles_of_one_book_never_spend_more_licenses_than_it_has(
    apple, synced, monkeypatch, workers
):
    people = PersonFactory.create_batch(PEOPLE, managed=True)
    _registered(synced, people)
    book = _books(synced, 2)[1]
    content = _contested(synced, apple, book, people)
    before = ReconcileRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    Workers(monkeypatch).run(synced, workers)

    assert len(_held_at_apple(apple, book)) == TOTAL
    assert _requested_twice(apple) == []
    assert apple.asset(content, book.adam_id, book.pricing_param)["availableCount"] == 0
    states = Counter(License.objects.filter(ebook=book).values_list("state", flat=True))
    assert states == {Assigned: TOTAL, License.State.NOT_ENOUGH: PEOPLE - TOTAL}
    runs = ReconcileRun.objects.filter(token=synced, pk__gt=before)
    assert not runs.filter(state__in=ACTIVE).exists()
    assert runs.order_by("pk").first().shortfall == PEOPLE - TOTAL  # recorded, not bought


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_tokens_tasks_leave_the_same_licenses_as_one(apple, synced, monkeypatch):
    alone = PersonFactory.create_batch(PEOPLE, managed=True)
    paired = PersonFactory.create_batch(PEOPLE, managed=True)
    _registered(synced, alone + paired)
    one_book, two_book = _books(synced, 3)[1:]
    _contested(synced, apple, one_book, alone)
    Workers(monkeypatch).run(synced, 1)
    _contested(synced, apple, two_book, paired)
    Workers(monkeypatch).run(synced, 2)

    one, two = _rows(one_book, alone), _rows(two_book, paired)
    assert Counter(r[1] for r in one) == {Assigned: TOTAL, License.State.NOT_ENOUGH: 3}
    assert two == one
    assert _requested_twice(apple) == []


@pytest.mark.django_db(transaction=True)
def test_a_step_delivered_to_two_workers_at_once_requests_no_license_twice(
    apple, synced, monkeypatch
):
    people = PersonFactory.create_batch(3, managed=True)
    _registered(synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)
    monkeypatch.setattr(queue, "run_enqueue", lambda *, run_id, countdown=0: None)
    monkeypatch.setattr(queue, "follow_up_enqueue", lambda *, token_id, countdown: None)
    run = reconcile_request(token=synced, trigger=ReconcileRun.Trigger.MANUAL).run
    # Both deliveries start planning, and get as far as asking Apple for the book, before
    # either asks; a reconciler that refuses the second delivery never gets both through
    # (the waits time out and the one delivery carries on alone).
    started, planned = threading.Barrier(2), threading.Barrier(2)
    real_changes, real_associate = Push._changes_to_plan, Push._associate

    def together(barrier: threading.Barrier) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=3)

    def changes_to_plan_together(self):
        changes = real_changes(self)
        together(started)
        return changes

    def associate_after_both_planned(self, ebooks, users):
        if book in ebooks:
            together(planned)
        return real_associate(self, ebooks, users)

    monkeypatch.setattr(Push, "_changes_to_plan", changes_to_plan_together)
    monkeypatch.setattr(Push, "_associate", associate_after_both_planned)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            reconcile_run_execute(run_id=run.pk)
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert _requested_twice(apple) == []
    assert len(_held_at_apple(apple, book)) == 3
