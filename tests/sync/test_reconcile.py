"""The reconciler makes Apple hold the licenses group assignments ask for, and no more."""

from __future__ import annotations

import math
import threading

import pytest
from django.core import mail
from django.db import connection

from assignments.models import AppleUser, BookOffer, GroupAssignment, InstallRequest, License
from assignments.services import group_assignment_create, group_assignment_remove
from ebooks.models import EBook
from sync.models import ReconcileRun
from sync.reconcile.push import Push, reconcile_run_execute
from sync.reconcile.runs import reconcile_request
from tests.factories import DeviceFactory, PersonFactory, UserGroupFactory
from tokens.clients import client_user_id_prefix
from tokens.crypto import decrypt

pytestmark = pytest.mark.django_db
State = License.State
Trigger = ReconcileRun.Trigger


@pytest.fixture
def synced(apple, vpp_token, sync_now):
    sync_now(vpp_token)
    return vpp_token


def _book(token, *, min_available: int = 50) -> EBook:
    return (
        EBook.objects.filter(token=token, unlimited=False, available_count__gte=min_available)
        .order_by("pk")
        .first()
    )


def _assign(book, people, *, intent=GroupAssignment.Intent.REQUIRED, cap=None):
    group = UserGroupFactory(members=people)
    group_assignment_create(
        ebook=book, groups=[group], intent=intent, cap=cap, confirmed_irrevocable=True
    )
    return group


def _apple_holders(apple, token, book) -> set[str]:
    return {
        a["clientUserId"]
        for a in apple.assignments(decrypt(token.secret_ciphertext))
        if a["adamId"] == book.adam_id and a["pricingParam"] == book.pricing_param
    }


def test_managed_apple_ids_get_the_book_at_once(reconciler, apple, synced):
    book = _book(synced)
    people = PersonFactory.create_batch(5, managed=True)
    _assign(book, people)
    result = reconciler.drive(synced)
    assert [run.state for run in result.runs] == ["succeeded", "succeeded"]  # register, license
    assert result.users_registered == 5
    assert result.licenses_assigned == 5
    licenses = License.objects.filter(ebook=book)
    assert set(licenses.values_list("state", flat=True)) == {State.ASSIGNED}
    held = _apple_holders(apple, synced, book)
    assert {lic.apple_user.client_user_id for lic in licenses} <= held
    assert mail.outbox == []  # managed Apple IDs need no invitation


def test_others_are_invited_once_and_licensed_after_joining(reconciler, apple, synced, sync_now):
    book = _book(synced)
    person = PersonFactory(email="sam@springfield.example")
    _assign(book, [person])
    reconciler.drive(synced)
    license = License.objects.get(ebook=book, person=person)
    assert license.state == State.WAITING_INVITATION
    assert len(mail.outbox) == 1
    invite = mail.outbox[0]
    assert invite.to == ["sam@springfield.example"]
    assert apple.url in invite.body and "inviteCode=" in invite.body
    reconciler.drive(synced)
    assert len(mail.outbox) == 1  # sent once
    user = AppleUser.objects.get(person=person)
    apple.accept_invitation(user.invite_code)
    sync_now(synced)  # the sync learns who joined; the reconciler then gives the book
    reconciler.drive(synced)
    license.refresh_from_db()
    assert license.state == State.ASSIGNED


def test_second_run_asks_apple_nothing(reconciler, apple, synced):
    _assign(_book(synced), PersonFactory.create_batch(3, managed=True))
    reconciler.drive(synced)
    again = reconciler.drive(synced)
    assert again.apple_requests == 0
    assert again.write_requests == 0
    quiet = reconciler.drive(synced, trigger=Trigger.ASSIGNMENT)
    assert quiet.last.progress_total == 0  # nothing changed since the last plan: not planned


def test_never_asks_for_more_than_available(reconciler, apple, synced):
    book = _book(synced)
    content = decrypt(synced.secret_ciphertext)
    available = apple.asset(content, book.adam_id, book.pricing_param)["availableCount"]
    apple.change_license_count(content, book.adam_id, book.pricing_param, -(available - 2))
    people = PersonFactory.create_batch(5, managed=True)
    _assign(book, people)
    result = reconciler.drive(synced)
    assert result.licenses_requested == 2
    assert result.shortfall == 3
    states = sorted(License.objects.filter(ebook=book).values_list("state", flat=True))
    assert states == sorted([State.ASSIGNED] * 2 + [State.NOT_ENOUGH] * 3)
    assert apple.asset(content, book.adam_id, book.pricing_param)["availableCount"] == 0


def test_batches_follow_the_service_config_limits(reconciler, apple, synced):
    from apple.client import clear_service_config_cache

    apple.limits.update({"maxUsers": 3, "maxClientUserIds": 4})
    clear_service_config_cache()
    people = PersonFactory.create_batch(10, managed=True)
    _assign(_book(synced), people)
    result = reconciler.drive(synced)
    assert result.write_requests == math.ceil(10 / 3) + math.ceil(10 / 4)
    assert result.licenses_assigned == 10


def test_apple_running_out_mid_way_is_recorded_as_not_enough(
    reconciler, apple, synced, monkeypatch
):
    book = _book(synced)
    content = decrypt(synced.secret_ciphertext)
    available = apple.asset(content, book.adam_id, book.pricing_param)["availableCount"]
    apple.change_license_count(content, book.adam_id, book.pricing_param, -(available - 1))
    # Our count is stale (another product took licenses since): Apple answers 9709.
    monkeypatch.setattr(Push, "_available", lambda self, ebook: 100)
    _assign(book, PersonFactory.create_batch(3, managed=True))
    reconciler.drive(synced)
    states = sorted(License.objects.filter(ebook=book).values_list("state", flat=True))
    assert states == sorted([State.ASSIGNED] + [State.NOT_ENOUGH] * 2)
    short = License.objects.filter(ebook=book, state=State.NOT_ENOUGH).first()
    assert short.error_number == 9709
    assert "not enough licenses" in short.error_message.lower()


def test_unknown_user_at_apple_is_registered_again(reconciler, apple, synced):
    book = _book(synced)
    person = PersonFactory(managed=True)
    _assign(book, [person])
    # We believe the person is registered and joined, but Apple has never heard of the id.
    AppleUser.objects.create(
        token=synced,
        person=person,
        client_user_id=f"{client_user_id_prefix()}unknown-at-apple",
        status=AppleUser.Status.ASSOCIATED,
    )
    first = reconciler.drive(synced)
    # Apple answered 9609; the same clientUserId was registered again and then licensed.
    assert first.licenses_failed == 1
    license = License.objects.get(ebook=book, person=person)
    assert license.state == State.ASSIGNED
    user = AppleUser.objects.get(person=person)
    assert user.client_user_id.endswith("unknown-at-apple")
    assert user.status == AppleUser.Status.ASSOCIATED


def test_two_runs_at_once_never_associate_twice(reconciler, apple, synced):
    _assign(_book(synced), PersonFactory.create_batch(4, managed=True))
    first = reconcile_request(token=synced, trigger=Trigger.MANUAL)
    second = reconcile_request(token=synced, trigger=Trigger.ASSIGNMENT)
    assert first.created and not second.created and second.run.pk == first.run.pk
    assert reconciler.run_ids == [first.run.pk]
    assert reconciler.settle(synced).licenses_assigned == 4


@pytest.mark.django_db(transaction=True)
def test_parallel_reconciles_of_one_book_never_over_spend(reconciler, apple, vpp_token, sync_now):
    sync_now(vpp_token)
    book = _book(vpp_token)
    _assign(book, PersonFactory.create_batch(6, managed=True))
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            request = reconcile_request(token=vpp_token, trigger=Trigger.MANUAL, enqueue=False)
            if request.created:
                reconcile_run_execute(run_id=request.run.pk)
        finally:
            connection.close()

    for _ in range(3):  # three waves of four parallel triggers
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        reconciler.settle(vpp_token)
    assert ReconcileRun.objects.filter(token=vpp_token).count() >= 3
    requested = sum(ReconcileRun.objects.values_list("licenses_requested", flat=True))
    assert requested == 6
    content = decrypt(vpp_token.secret_ciphertext)
    assert apple.asset(content, book.adam_id, book.pricing_param)["assignedCount"] == (
        book.assigned_count + 6
    )
    assert (
        len(
            _apple_holders(apple, vpp_token, book)
            & set(AppleUser.objects.values_list("client_user_id", flat=True))
        )
        == 6
    )


def test_required_records_installs_available_records_offers(reconciler, apple, synced):
    required_book, offered_book = EBook.objects.filter(
        token=synced, unlimited=False, available_count__gte=50
    ).order_by("pk")[:2]
    with_books, without_books = PersonFactory(managed=True), PersonFactory(managed=True)
    DeviceFactory(owner=with_books, has_books_app=True)
    DeviceFactory(owner=without_books, has_books_app=False)
    _assign(required_book, [with_books, without_books])
    _assign(offered_book, [with_books], intent=GroupAssignment.Intent.AVAILABLE)
    reconciler.drive(synced)
    installs = dict(
        InstallRequest.objects.filter(ebook=required_book).values_list("person_id", "state")
    )
    assert installs == {
        with_books.pk: InstallRequest.State.PENDING,
        without_books.pk: InstallRequest.State.NO_BOOKS_APP,
    }
    assert not InstallRequest.objects.filter(ebook=offered_book).exists()
    assert BookOffer.objects.get(ebook=offered_book, person=with_books).intent == "available"
    assert BookOffer.objects.get(ebook=required_book, person=with_books).intent == "required"


def test_removing_the_assignment_keeps_the_licenses(reconciler, apple, synced):
    book = _book(synced)
    _assign(book, PersonFactory.create_batch(2, managed=True))
    reconciler.drive(synced)
    group_assignment_remove(assignment=GroupAssignment.objects.get(ebook=book))
    again = reconciler.drive(synced)
    assert again.apple_requests == 0
    licenses = License.objects.filter(ebook=book)
    assert set(licenses.values_list("state", "kept")) == {(State.ASSIGNED, True)}


def test_cap_limits_new_licenses(reconciler, apple, synced):
    book = _book(synced)
    _assign(book, PersonFactory.create_batch(5, managed=True), cap=2)
    result = reconciler.drive(synced)
    assert result.licenses_requested == 2
    assert License.objects.filter(ebook=book).count() == 2


def test_cap_holds_across_runs_when_members_join_later(reconciler, apple, synced):
    from assignments.models import Membership

    book = _book(synced)
    group = _assign(book, PersonFactory.create_batch(2, managed=True), cap=2)
    assert reconciler.drive(synced).licenses_requested == 2
    for person in PersonFactory.create_batch(3, managed=True):
        Membership.objects.create(group=group, person=person)
    later = reconciler.drive(synced)
    assert later.licenses_requested == 0
    assert License.objects.filter(ebook=book).count() == 2


def test_claimed_token_is_left_alone(reconciler, apple, synced):
    _assign(_book(synced), PersonFactory.create_batch(2, managed=True))
    apple.claim_by_other(decrypt(synced.secret_ciphertext))
    result = reconciler.drive(synced)
    assert result.last.state == ReconcileRun.State.FAILED
    assert "Another management product" in result.last.error_message
    assert not License.objects.filter(state=State.ASSIGNED).exists()
    synced.refresh_from_db()
    assert synced.is_claimed_elsewhere


def test_assignment_change_queues_the_reconciler(
    apple, synced, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        _assign(_book(synced), [PersonFactory(managed=True)])
    assert queued == [(synced.pk, "assignment")]


def test_a_finished_sync_queues_the_reconciler(
    apple, vpp_token, sync_now, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        sync_now(vpp_token)
    assert queued == [(vpp_token.pk,)]


def test_admin_resends_an_invitation(reconciler, apple, synced, portal_admin_client, viewer_client):
    from django.urls import reverse

    person = PersonFactory(email="kim@springfield.example")
    _assign(_book(synced), [person])
    reconciler.drive(synced)
    user = AppleUser.objects.get(person=person)
    url = reverse("admin:assignments_appleuser_changelist")
    payload = {"action": "resend_invitation", "_selected_action": [user.pk]}
    viewer_client.post(url, payload)
    assert len(mail.outbox) == 1  # viewers cannot send
    response = portal_admin_client.post(url, payload, follow=True)
    assert "1 invitation(s) sent" in response.content.decode()
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["kim@springfield.example"]


def test_membership_changes_queue_the_reconciler_as_membership_changes(
    apple, synced, monkeypatch, django_capture_on_commit_callbacks
):
    from assignments.directory_import import directory_import
    from assignments.services import group_members_change, memberships_delete

    queued = []
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda *args: queued.append(args))
    book = _book(synced)
    group = _assign(book, [PersonFactory(managed=True)])
    queued.clear()
    newcomer, leaver = PersonFactory(managed=True), PersonFactory(managed=True)
    with django_capture_on_commit_callbacks(execute=True):
        group_members_change(group=group, add_person_ids=[newcomer.pk, leaver.pk])
    with django_capture_on_commit_callbacks(execute=True):
        group_members_change(group=group, remove_person_ids=[newcomer.pk])
    with django_capture_on_commit_callbacks(execute=True):
        memberships_delete(memberships=group.memberships.filter(person=leaver))
    members = b"".join(f"{group.name},{p.email}\n".encode() for p in group.members.all())
    with django_capture_on_commit_callbacks(execute=True):
        outcome = directory_import(
            people=b"email\nnew1@school.example\n",
            groups=b"group_name,member_email\n"
            + members
            + f"{group.name},new1@school.example\n".encode(),
            confirmed_licenses=1,
        )
    assert outcome.ok
    assert queued == [(synced.pk, Trigger.MEMBERSHIP)] * 4

    # The task records the trigger on the run it queues.
    from sync.tasks import reconcile_token

    monkeypatch.setattr("sync.reconcile.queue.run_enqueue", lambda **kwargs: None)
    run_id = reconcile_token.run(*queued[0])
    assert ReconcileRun.objects.get(pk=run_id).trigger == Trigger.MEMBERSHIP
