"""Reconcile runs: one at a time per token, short steps, nothing stranded, errors per book."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import AppleRequestError
from assignments.models import GroupAssignment, License
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.models import AppleEvent, ReconcileRun
from sync.reconcile import outbox
from sync.reconcile import push as push_module
from sync.reconcile.push import Push, reconcile_run_execute
from sync.reconcile.runs import reconcile_request, reconcile_runs_reap
from tests.factories import PersonFactory, UserGroupFactory
from tokens.crypto import decrypt
from tokens.models import VppToken

pytestmark = pytest.mark.django_db
State = License.State
Trigger = ReconcileRun.Trigger


class Killed(BaseException):
    """Stands in for SIGKILL inside the process: nothing after it runs, no except catches it."""


@pytest.fixture
def synced(apple, vpp_token, sync_now):
    sync_now(vpp_token)
    return vpp_token


def _books(token, count=1):
    return list(
        EBook.objects.filter(token=token, unlimited=False, available_count__gte=20).order_by("pk")[
            :count
        ]
    )


def _assign(book, people, **kwargs):
    group = UserGroupFactory(members=people)
    group_assignment_create(
        ebook=book,
        groups=[group],
        intent=GroupAssignment.Intent.AVAILABLE,
        confirmed_irrevocable=True,
        **kwargs,
    )
    return group


def _requested_twice(apple) -> list:
    return [key for key, count in apple.requested_licenses.items() if count > 1]


def _register_people(reconciler, token, people):
    """Give the people Apple users (and one book) so later runs go straight to licensing."""
    _assign(_books(token)[0], people)
    reconciler.drive(token)


def _stranded(book) -> QuerySet[License]:
    """The book's pending licenses whose request has no answer recorded."""
    return License.objects.filter(
        pk__in=[pk for _, pk in outbox.licenses_stranded(token=book.token, ebook_id=book.pk)]
    )


def _killed_after(real):
    def killed(**kwargs):
        real(**kwargs)
        raise Killed

    return killed


def test_a_run_killed_before_asking_apple_is_finished_by_the_next(
    reconciler, apple, synced, monkeypatch
):
    people = PersonFactory.create_batch(4, managed=True)
    _register_people(reconciler, synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)

    with monkeypatch.context() as patch:
        # Killed once the request's licenses and outbox event are written, before it leaves.
        patch.setattr(outbox, "license_request_open", _killed_after(outbox.license_request_open))
        reconcile_request(token=synced, trigger=Trigger.MANUAL)
        with pytest.raises(Killed):
            reconciler.settle(synced)
    stranded = _stranded(book)
    assert stranded.count() == 4  # the intention was written, the request never left
    assert len(set(stranded.values_list("event_id", flat=True))) == 1  # one request, one key
    run = ReconcileRun.objects.get(state=ReconcileRun.State.RUNNING)
    # The dead run blocks the next for minutes, not half an hour.
    assert not reconcile_request(token=synced, trigger=Trigger.MANUAL, enqueue=False).created
    assert reconcile_runs_reap(now=timezone.now() + timedelta(minutes=4)) == 1
    run.refresh_from_db()
    assert "stopped responding" in run.error_message
    stranded.update(updated_at=timezone.now() - timedelta(minutes=5))
    reconciler.run_ids.clear()
    result = reconciler.drive(synced)
    assert result.licenses_assigned == 4
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }
    assert _requested_twice(apple) == []
    held = {c for (a, p, c) in apple.requested_licenses if (a, p) == (book.adam_id, "STDQ")}
    assert len(held) == 4


def test_answer_lost_after_apple_queued_the_request_is_never_requested_again(
    reconciler, apple, synced
):
    people = PersonFactory.create_batch(3, managed=True)
    _register_people(reconciler, synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)
    # Apple does the work, but the answer is cut short: we never learn the event id.
    apple.set_faults("garbage:next=1:path=/assets/associate")
    first = reconciler.drive(synced)
    assert first.last.state == ReconcileRun.State.PARTIAL
    assert _stranded(book).count() == 3
    License.objects.filter(ebook=book).update(updated_at=timezone.now() - timedelta(minutes=5))
    again = reconciler.drive(synced)
    assert again.write_requests == 0  # Apple already holds them: asked, not bought again
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }
    assert _requested_twice(apple) == []


def test_young_stranded_rows_apple_does_not_list_yet_are_not_requested_again(
    reconciler, apple, synced, monkeypatch
):
    people = PersonFactory.create_batch(2, managed=True)
    _register_people(reconciler, synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)
    with monkeypatch.context() as patch:
        patch.setattr(AppleClient, "associate", lambda self, **kwargs: [])  # lost in flight
        reconciler.drive(synced)
    again = reconciler.drive(synced)
    assert again.write_requests == 0  # may still be on its way: wait, do not spend twice
    assert _stranded(book).count() == 2


def test_killed_after_apple_took_the_request_before_its_answer_was_recorded(
    reconciler, apple, synced, monkeypatch
):
    """The licenses carry the request's key, its event has no Apple id: the next run finds
    them held in Apple's listing and asks nothing again."""
    people = PersonFactory.create_batch(3, managed=True)
    _register_people(reconciler, synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)
    _killed_in(monkeypatch, reconciler, synced, "license_request_answered")
    assert _stranded(book).count() == 3
    assert AppleEvent.objects.get(state=AppleEvent.State.SENDING).license_key.startswith("req:")
    reconcile_runs_reap(now=timezone.now() + timedelta(minutes=4))
    reconciler.run_ids.clear()
    result = reconciler.drive(synced, trigger=Trigger.SYNC)  # nothing else changed
    assert result.write_requests == 0  # Apple holds them: read from its listing, not bought
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }
    assert not AppleEvent.objects.filter(state=AppleEvent.State.SENDING).exists()
    assert _requested_twice(apple) == []
    # Settled: a run after that has nothing to do.
    assert reconciler.drive(synced, trigger=Trigger.SYNC).last.progress_total == 0


def _raise(error):
    raise error


def _killed_in(monkeypatch, reconciler, synced, name: str) -> None:
    """A run whose worker dies in outbox.<name>: Apple took the requests, no answer recorded."""
    with monkeypatch.context() as patch:
        patch.setattr(outbox, name, lambda **kwargs: _raise(Killed))
        reconcile_request(token=synced, trigger=Trigger.MANUAL)
        with pytest.raises(Killed):
            reconciler.settle(synced)


def test_a_failing_book_is_recorded_and_the_others_go_on(reconciler, apple, synced, monkeypatch):
    bad, good = _books(synced, 2)
    _assign(bad, PersonFactory.create_batch(2, managed=True))
    _assign(good, PersonFactory.create_batch(2, managed=True))
    real = Push._associate

    def associate(self, ebooks, users):
        if bad in ebooks:
            raise AppleRequestError("refused", http_status=400, error_number=9602)
        return real(self, ebooks, users)

    monkeypatch.setattr(Push, "_associate", associate)
    result = reconciler.drive(synced)
    partial = [r for r in result.runs if r.state == ReconcileRun.State.PARTIAL]
    assert partial and str(bad) in partial[0].error_message
    assert result.books_failed == 1
    assert set(License.objects.filter(ebook=good).values_list("state", flat=True)) == {
        State.ASSIGNED
    }


def test_a_revoked_token_stops_the_run_and_the_token_says_so(reconciler, apple, synced):
    _assign(_books(synced)[0], PersonFactory.create_batch(2, managed=True))
    apple.revoke(decrypt(synced.secret_ciphertext))
    result = reconciler.drive(synced)
    assert result.last.state == ReconcileRun.State.FAILED
    assert "revoked" in result.last.error_message.lower()
    synced.refresh_from_db()
    assert synced.state == VppToken.State.INVALID
    assert not License.objects.filter(state=State.ASSIGNED).exists()


def test_a_change_during_a_run_queues_one_more_run(reconciler, apple, synced):
    _assign(_books(synced)[0], PersonFactory.create_batch(2, managed=True))
    first = reconcile_request(token=synced, trigger=Trigger.MANUAL)
    ReconcileRun.objects.filter(pk=first.run.pk).update(
        state=ReconcileRun.State.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    for _ in range(5):  # five more changes while it runs: one more run, not five
        assert not reconcile_request(token=synced, trigger=Trigger.MEMBERSHIP).created
    reconciler.settle(synced)
    runs = ReconcileRun.objects.filter(token=synced).order_by("pk")
    assert runs.filter(trigger=Trigger.MANUAL).count() == 2  # the run, and one more after it
    assert not runs.filter(state__in=["queued", "running"]).exists()


def test_a_reconcile_with_nothing_to_do_is_quick_and_asks_apple_nothing(reconciler, apple, synced):
    _assign(_books(synced)[0], PersonFactory.create_batch(30, managed=True))
    reconciler.drive(synced)
    run = reconcile_request(token=synced, trigger=Trigger.SYNC).run
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        reconcile_run_execute(run_id=run.pk)
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    assert run.state == ReconcileRun.State.SUCCEEDED
    assert run.apple_requests == 0 and run.progress_total == 0
    # A few indexed reads and the run's own writes, whatever the number of people or books.
    assert len(queries) <= 12, [q["sql"][:150] for q in queries]
    assert elapsed < 0.2


def test_counts_are_updated_from_apple_after_the_outcome(reconciler, apple, synced):
    book = _books(synced)[0]
    before = book.available_count
    EBook.objects.filter(pk=book.pk).update(counts_as_of=None)
    _assign(book, PersonFactory.create_batch(3, managed=True))
    reconciler.drive(synced)
    book.refresh_from_db()
    assert book.available_count == before - 3
    assert book.counts_as_of is not None


def test_follow_ups_back_off_while_apple_works(reconciler, apple, synced):
    from sync.reconcile.follow import events_follow_up

    people = PersonFactory.create_batch(2, managed=True)
    _register_people(reconciler, synced, people)
    apple.set_event_delay(3600)
    _assign(_books(synced, 2)[1], people)
    reconcile_request(token=synced, trigger=Trigger.MANUAL)
    reconcile_run_execute(run_id=reconciler.run_ids.pop(0))
    event = AppleEvent.objects.get(kind=AppleEvent.Kind.LICENSES, state="pending")
    waits = []
    now = event.next_check_at
    for _ in range(8):
        events_follow_up(token=synced, now=now)
        event.refresh_from_db()
        waits.append((event.next_check_at - now).total_seconds())
        now = event.next_check_at
    assert waits == [2, 4, 8, 16, 32, 64, 120, 120]


@pytest.fixture
def big_token(settings, sync_now):
    """A token of 2,000 books on a simulator of its own."""
    from apple.client import clear_service_config_cache
    from apple.simulator import Simulator
    from tokens.clients import client_user_id_prefix
    from tokens.services import token_import

    offset = [0.0]  # Apple's clock, moved by the test
    sim = Simulator(
        generate=f"books=2000,users=0,assignments=0,apps=0,prefix={client_user_id_prefix()},seed=5",
        clock=lambda: time.time() + offset[0],
    )
    sim.offset = offset
    sim.start(port=0)
    settings.VPP_SERVICE_URL, settings.VPP_STORE_LOOKUP_URL = sim.api_url, sim.lookup_url
    clear_service_config_cache()
    token = token_import(
        file_bytes=sim.issue_token(org="District", location="All").encode(),
        apple_id="a@b.example",
        account_type="education",
    )
    sync_now(token)
    yield sim, token
    sim.stop()
    clear_service_config_cache()


def test_pending_events_for_minutes_hold_no_worker_for_long(reconciler, big_token):
    """2,000 books, Apple slow for minutes: every task is short; nothing waits in a worker."""
    from sync.reconcile.follow import events_follow_up

    apple, token = big_token
    people = PersonFactory.create_batch(3, managed=True)
    _register_people(reconciler, token, people)
    apple.set_event_delay(600)  # Apple's events stay PENDING for ten minutes
    group = UserGroupFactory(members=people)
    books = list(EBook.objects.filter(token=token, available_count__gte=3).order_by("pk")[1:])
    assert len(books) > 1000
    GroupAssignment.objects.bulk_create(
        [GroupAssignment(ebook=b, group=group, intent="available") for b in books]
    )
    durations = []
    reconcile_request(token=token, trigger=Trigger.MANUAL)
    while reconciler.run_ids:
        started = time.perf_counter()
        reconcile_run_execute(run_id=reconciler.run_ids.pop(0), budget=1.0)
        durations.append(time.perf_counter() - started)
    steps = len(durations)
    assert steps > 1  # the run handed over between short steps
    now = timezone.now()
    for _ in range(12):  # twelve minutes of follow-ups, Apple's clock and ours driven
        now += timedelta(minutes=1)
        apple.offset[0] += 60
        started = time.perf_counter()
        events_follow_up(token=token, now=now)
        durations.append(time.perf_counter() - started)
    pending = AppleEvent.objects.filter(state="pending")
    for _ in range(100):  # Apple has finished: short follow-ups apply the outcomes, in turns
        if not pending.exists():
            break
        now += timedelta(seconds=10)
        started = time.perf_counter()
        events_follow_up(token=token, now=now)
        durations.append(time.perf_counter() - started)
    assert max(durations) < 5.0, durations  # a few seconds, on a loaded 2-core machine
    assert pending.count() == 0  # all followed to the end
    states = set(License.objects.filter(ebook__in=books).values_list("state", flat=True))
    assert states == {State.ASSIGNED}
    assert _requested_twice(apple) == []
    # Books going to the same people share requests (maxAssets, 25, books each); a step that
    # runs out of time holds a half-filled request for the next step: the minimum, exactly.
    run = ReconcileRun.objects.filter(trigger=Trigger.MANUAL).order_by("pk").last()
    assert run.write_requests == -(-len(books) // 25)


def test_push_budget_hands_over_to_a_new_task(reconciler, apple, synced, monkeypatch):
    people = PersonFactory.create_batch(2, managed=True)
    _register_people(reconciler, synced, people)
    group = UserGroupFactory(members=people)
    for book in _books(synced, 4)[1:]:
        GroupAssignment.objects.create(ebook=book, group=group, intent="available")
    monkeypatch.setattr(push_module, "TASK_BUDGET", 0.0)
    result = reconciler.drive(synced)
    assert len(result.runs) >= 1
    steps = result.runs[0].progress_done
    assert steps == result.runs[0].progress_total == 4
    assert result.licenses_assigned == 6


def test_a_long_users_read_is_split_over_short_follow_ups(reconciler, apple, synced, monkeypatch):
    """Apple's users listing is read a page per follow-up when the budget is spent: each task
    hands its page cursor to the next, a task delivered twice reads a page again harmlessly,
    and the people are licensed once the listing is complete."""
    from sync.models import ReconcileState
    from sync.reconcile import follow

    apple.page_size = 2
    book = _books(synced)[0]
    _assign(book, PersonFactory.create_batch(9, managed=True))
    reads = []
    original = follow._users_read

    def spy(token, client, now, clock, deadline):
        done = original(token, client, now, clock, -1.0)  # the budget is always spent
        reads.append(ReconcileState.objects.get(token=token).users_read_page)
        if len(reads) == 2:  # the same follow-up delivered again: the same page is read again
            assert not original(token, client, now, clock, -1.0)
            assert ReconcileState.objects.get(token=token).users_read_page == reads[-1] + 1
            ReconcileState.objects.filter(token=token).update(users_read_page=reads[-1])
        return done

    monkeypatch.setattr(follow, "_users_read", spy)
    result = reconciler.drive(synced)
    assert reads[:3] == [1, 2, 3]  # one page per task, the cursor handed on
    assert reads[-1] is None  # the listing ended: no read left open
    state = ReconcileState.objects.get(token=synced)
    assert state.users_version_id and not state.users_read_version_id
    assert result.licenses_assigned == 9
    assert _requested_twice(apple) == []


def test_a_step_out_of_time_hands_its_half_filled_requests_to_the_next(
    reconciler, apple, synced, monkeypatch
):
    """Every step plans one book and runs out of time: the books gathered for the same people
    still go in full requests (maxAssets books each), not one request per step."""
    from sync.reconcile.grants import HELD_PREFIX

    people = PersonFactory.create_batch(2, managed=True)
    _register_people(reconciler, synced, people)
    group = UserGroupFactory(members=people)
    books = list(EBook.objects.filter(token=synced, available_count__gte=2).order_by("pk")[1:31])
    assert len(books) == 30
    for book in books:
        GroupAssignment.objects.create(ebook=book, group=group, intent="available")
    monkeypatch.setattr(push_module, "TASK_BUDGET", 0.0)
    held = []
    execute = push_module.reconcile_run_execute

    def step(**kwargs):
        run = execute(**kwargs)
        held.append(License.objects.filter(event_id__startswith=HELD_PREFIX).count())
        return run

    monkeypatch.setattr("sync.reconcile.foreground.reconcile_run_execute", step)
    result = reconciler.drive(synced)
    run = result.runs[0]
    assert run.write_requests == 2  # 25 books, then the last 5: the minimum
    assert max(held) >= 2 * 24 and held[-1] == 0  # held between steps, none left behind
    assert result.licenses_assigned == 2 * 30
    assert _requested_twice(apple) == []


def test_licenses_a_dead_run_held_are_planned_again_not_stranded(reconciler, apple, synced):
    from sync.reconcile.grants import held_marker

    people = PersonFactory.create_batch(3, managed=True)
    _register_people(reconciler, synced, people)
    book = _books(synced, 2)[1]
    _assign(book, people)
    reconcile_request(token=synced, trigger=Trigger.MANUAL)
    run_id = reconciler.run_ids.pop(0)
    push = Push(
        ReconcileRun.objects.get(pk=run_id),
        push_module.client_for_token(synced),
        clock=time.monotonic,
        budget=0.0,
    )
    ReconcileRun.objects.filter(pk=run_id).update(
        state=ReconcileRun.State.RUNNING, heartbeat_at=timezone.now()
    )
    push._book(book)  # gathered, then the worker died before the step held or sent it
    push.grants.hold()
    assert License.objects.filter(event_id=held_marker(run_id)).count() == 3
    reconcile_runs_reap(now=timezone.now() + timedelta(minutes=4))
    result = reconciler.drive(synced, trigger=Trigger.SYNC)  # nothing else changed
    assert result.licenses_assigned == 3
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }
    assert _requested_twice(apple) == []


def test_a_book_handed_over_midway_goes_on_where_the_last_step_stopped(
    reconciler, apple, synced, monkeypatch
):
    """Each step does one slice of a book's people: the next step starts at the run's person
    cursor, so nobody is gone through twice and the run gets to the end of the book."""
    people = PersonFactory.create_batch(7, managed=True)
    _assign(_books(synced)[0], people)
    monkeypatch.setattr(push_module, "TASK_BUDGET", 0.0)
    monkeypatch.setattr(push_module, "PEOPLE_PER_SLICE", 2)
    given: list[list[int]] = []
    give = Push._give

    def spy(self, ebook, person_ids):
        given.append(list(person_ids))
        return give(self, ebook, person_ids)

    monkeypatch.setattr(Push, "_give", spy)
    result = reconciler.drive(synced)
    first_run = [pk for part in given[:4] for pk in part]
    assert sorted(first_run) == sorted(p.pk for p in people)  # four steps, each person once
    assert result.runs[0].people_targeted == 7 and result.runs[0].person_cursor == 0
    assert result.users_registered == 7 and result.licenses_assigned == 7
    assert _requested_twice(apple) == []


def test_licensing_waits_for_the_rest_of_a_runs_registrations(reconciler, apple, synced):
    """Registered in three batches: the batch Apple finishes first does not start a licensing
    run of its own (a request for a few people); one run licenses all, once all are in."""
    from apple.client import clear_service_config_cache
    from assignments.models import AppleUser
    from sync.models import ReconcileState
    from sync.reconcile.follow import events_follow_up

    apple.limits.update({"maxUsers": 2})
    clear_service_config_cache()
    apple.set_event_delay(3600)
    _assign(_books(synced)[0], PersonFactory.create_batch(5, managed=True))
    reconcile_request(token=synced, trigger=Trigger.MANUAL)
    reconcile_run_execute(run_id=reconciler.run_ids.pop(0))
    events = list(AppleEvent.objects.filter(kind=AppleEvent.Kind.USERS).order_by("pk"))
    assert len(events) == 3
    # Apple finished the first batch (as a users read would have shown).
    AppleUser.objects.filter(event_id=events[0].license_ref).update(status="associated")
    now = max(e.next_check_at for e in events)
    events_follow_up(token=synced, now=now)
    assert reconciler.run_ids == []  # no run for two people while three are on their way
    state = ReconcileState.objects.get(token=synced)
    assert state.change_seq > state.planned_seq  # owed, not forgotten
    apple.set_event_delay(0)
    AppleUser.objects.filter(event_id__in=[e.license_ref for e in events[1:]]).update(
        status="associated"
    )
    events_follow_up(token=synced, now=now + timedelta(seconds=10))
    assert len(reconciler.run_ids) == 1
    result = reconciler.settle(synced)
    assert result.licenses_assigned == 5


def test_people_past_a_count_that_may_include_licenses_in_flight_are_not_short(
    reconciler, apple, synced, monkeypatch
):
    """Apple's count already took the licenses of a request whose outcome we have not learnt
    yet: the next people are licensed once it is known, never recorded as short."""
    other, book = _books(synced, 2)
    content = decrypt(synced.secret_ciphertext)
    available = apple.asset(content, book.adam_id, book.pricing_param)["availableCount"]
    apple.change_license_count(content, book.adam_id, book.pricing_param, -(available - 6))
    people = PersonFactory.create_batch(6, managed=True)
    _assign(other, people)
    reconciler.drive(synced)  # all six registered with Apple
    _assign(book, people[:3])
    reconcile_request(token=synced, trigger=Trigger.MANUAL)
    reconcile_run_execute(run_id=reconciler.run_ids.pop(0))  # asked; outcome not learnt yet
    reconciler.follow_ups.clear()
    monkeypatch.setattr(push_module, "book_events_settle", lambda **kwargs: 0)  # no time left
    _assign(book, people[3:])
    reconcile_request(token=synced, trigger=Trigger.MANUAL)
    reconcile_run_execute(run_id=reconciler.run_ids.pop(0))
    assert not License.objects.filter(ebook=book, state=State.NOT_ENOUGH).exists()
    reconciler.settle(synced)  # the follow-up learns the outcome and queues the licensing run
    states = list(License.objects.filter(ebook=book).values_list("state", flat=True))
    assert states == [State.ASSIGNED] * 6
    assert _requested_twice(apple) == []


def test_licenses_gathered_but_not_written_yet_count_as_in_flight(
    reconciler, apple, synced, monkeypatch
):
    """A book planned in several slices of one step: what earlier slices gathered is written
    only when its request leaves, yet it counts against the book's licenses. Apple is never
    asked beyond the count."""
    people = PersonFactory.create_batch(10, managed=True)
    _register_people(reconciler, synced, people)
    scarce, after = _books(synced, 3)[1:]
    content = decrypt(synced.secret_ciphertext)
    available = apple.asset(content, scarce.adam_id, scarce.pricing_param)["availableCount"]
    apple.change_license_count(content, scarce.adam_id, scarce.pricing_param, 5 - available)
    group = _assign(scarce, people)
    # A book after it: the scarce book's slices are gathered, not sent one by one.
    GroupAssignment.objects.create(ebook=after, group=group, intent="available")
    monkeypatch.setattr(push_module, "PEOPLE_PER_SLICE", 3)
    result = reconciler.drive(synced)
    book_key = (scarce.adam_id, scarce.pricing_param)
    asked = [c for (a, p, c) in apple.requested_licenses if (a, p) == book_key]
    assert len(asked) == 5
    states = list(License.objects.filter(ebook=scarce).values_list("state", flat=True))
    assert sorted(states) == [State.ASSIGNED] * 5 + [State.NOT_ENOUGH] * 5
    assert result.licenses_assigned == 5 + 10  # and the other book for everyone
    assert _requested_twice(apple) == []


def test_each_request_writes_its_licenses_with_a_key_of_its_own(reconciler, apple, synced):
    """30 books for the same people go in two requests (maxAssets 25): two keys, each on
    exactly the licenses its request asked for, each recorded with Apple's event."""
    people = PersonFactory.create_batch(3, managed=True)
    _register_people(reconciler, synced, people)
    group = UserGroupFactory(members=people)
    books = list(EBook.objects.filter(token=synced, available_count__gte=3).order_by("pk")[1:31])
    for book in books:
        GroupAssignment.objects.create(ebook=book, group=group, intent="available")
    result = reconciler.drive(synced)
    assert result.write_requests == 2
    keyed = License.objects.filter(ebook__in=books)
    by_key: dict[str, set[int]] = {}
    for ebook_id, key in keyed.values_list("ebook_id", "event_id"):
        by_key.setdefault(key, set()).add(ebook_id)
    assert sorted(len(b) for b in by_key.values()) == [5, 25]
    assert all(keyed.filter(event_id=key).count() == 3 * len(b) for key, b in by_key.items())
    events = AppleEvent.objects.filter(license_key__in=list(by_key))
    assert sorted(e.num_requested for e in events) == [15, 75]
    assert {e.state for e in events} == {AppleEvent.State.DONE}
    assert all(not e.event_id.startswith("req:") for e in events)  # Apple's id, once answered


def test_each_registration_request_carries_a_key_of_its_own(reconciler, apple, synced):
    from apple.client import clear_service_config_cache
    from assignments.models import AppleUser

    apple.limits.update({"maxUsers": 2})
    clear_service_config_cache()
    people = PersonFactory.create_batch(5, managed=True)
    _assign(_books(synced)[0], people)
    result = reconciler.drive(synced)
    events = AppleEvent.objects.filter(kind=AppleEvent.Kind.USERS)
    assert events.count() == 3 and result.licenses_assigned == 5
    users = AppleUser.objects.filter(person__in=people)
    per_key = sorted(users.filter(event_id=e.license_key).count() for e in events)
    assert per_key == [1, 2, 2]  # each key on exactly the users of its one request
    assert all(not e.event_id.startswith("req:") for e in events)  # Apple's ids, answered


def test_killed_before_registrations_were_recorded_the_next_run_sends_them_again(
    reconciler, apple, synced, monkeypatch
):
    """Users whose request has no answer recorded are registered again under the same key
    (Apple refuses a duplicate harmlessly); nothing stays stuck and no license is bought twice."""
    from assignments.models import AppleUser

    people = PersonFactory.create_batch(3, managed=True)
    book = _books(synced)[0]
    _assign(book, people)
    _killed_in(monkeypatch, reconciler, synced, "user_requests_answered")
    keys = set(AppleUser.objects.filter(person__in=people).values_list("event_id", flat=True))
    assert len(keys) == 1 and AppleEvent.objects.get(license_key=keys.pop()).state == "sending"
    reconcile_runs_reap(now=timezone.now() + timedelta(minutes=4))
    reconciler.run_ids.clear()
    result = reconciler.drive(synced)
    assert result.licenses_assigned == 3
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }
    assert not AppleEvent.objects.filter(state=AppleEvent.State.SENDING).exists()
    assert _requested_twice(apple) == []
