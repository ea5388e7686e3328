"""A person Apple knows keeps their Apple user and licenses: deleting and re-importing them
never registers a second Apple user nor buys a book twice (counted at the simulator)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assignments.directory_import import groups_import, people_import
from assignments.models import AppleUser, GroupAssignment, License, Membership, Person
from assignments.selectors import assignment_preview
from assignments.services import group_assignment_create, people_delete
from ebooks.models import EBook
from sync.models import SyncRun
from sync.reconcile import reconcile_token
from sync.services import sync_request, sync_run_execute
from tests.factories import LicenseFactory, PersonFactory, UserGroupFactory
from tokens.crypto import decrypt

pytestmark = pytest.mark.django_db

PEOPLE = b"email,display_name,managed_apple_id\nada@springfield.example,Ada,ada@appleid.example\n"
GROUPS = b"group_name,member_email\nReaders,ada@springfield.example\n"


@pytest.fixture(autouse=True)
def no_task_queue(monkeypatch):
    """Changes queue the reconciler; these tests run it themselves."""
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda token_id: None)


@pytest.fixture
def synced(apple, vpp_token):
    run = sync_request(token=vpp_token, trigger=SyncRun.Trigger.COMMAND, enqueue=False).run
    sync_run_execute(run_id=run.pk)
    return vpp_token


@pytest.fixture
def licensed(apple, synced):
    """Ada, imported, in an assigned group and holding the book at Apple."""
    assert people_import(data=PEOPLE).ok
    assert groups_import(data=GROUPS).ok
    book = (
        EBook.objects.filter(token=synced, unlimited=False, available_count__gte=5)
        .order_by("pk")
        .first()
    )
    group_assignment_create(
        ebook=book,
        groups=[Membership.objects.get().group],
        intent=GroupAssignment.Intent.REQUIRED,
        confirmed_irrevocable=True,
    )
    assert reconcile_token(token=synced).licenses_assigned == 1
    return book


def _apple_side(apple, token, book) -> tuple[int, int]:
    """(Apple users registered, licenses of the book held) as the simulator counts them."""
    content = decrypt(token.secret_ciphertext)
    users = len(apple.users(content))
    held = sum(
        1
        for a in apple.assignments(content)
        if (a["adamId"], a["pricingParam"]) == (book.adam_id, book.pricing_param)
    )
    return users, held


def test_deleted_and_reimported_person_gets_no_second_apple_user_or_license(
    apple, synced, licensed, portal_admin_client
):
    before = _apple_side(apple, synced, licensed)
    ada = Person.objects.get()
    response = portal_admin_client.post(
        reverse("admin:assignments_person_delete", args=[ada.pk]), {"post": "yes"}, follow=True
    )
    assert "deactivated, not deleted" in response.content.decode()
    ada.refresh_from_db()
    assert ada.active is False
    assert not Membership.objects.exists()

    assert people_import(data=PEOPLE).ok  # back in the directory...
    assert groups_import(data=GROUPS).ok  # ...and in the group
    assert Person.objects.get().pk == ada.pk
    group = Membership.objects.get().group
    # The preview counts her as a holder, so it says nothing more would be spent.
    preview = assignment_preview(ebook=licensed, groups=[group])
    assert (preview.already_held, preview.will_consume) == (1, 0)

    result = reconcile_token(token=synced)
    assert result.users_registered == 0
    assert result.licenses_requested == 0
    assert AppleUser.objects.count() == 1
    assert License.objects.filter(ebook=licensed).count() == 1
    assert _apple_side(apple, synced, licensed) == before


def test_person_deleted_before_the_fix_is_relinked_on_reimport(apple, synced, licensed):
    before = _apple_side(apple, synced, licensed)
    Person.objects.all().delete()  # as the old code did: Apple user and license orphaned
    assert AppleUser.objects.get().person_id is None

    assert people_import(data=PEOPLE).ok
    assert groups_import(data=GROUPS).ok
    ada = Person.objects.get()
    assert AppleUser.objects.get().person_id == ada.pk
    assert License.objects.get().person_id == ada.pk

    reconcile_token(token=synced)
    assert AppleUser.objects.count() == 1
    assert _apple_side(apple, synced, licensed) == before


def test_people_apple_never_heard_of_are_really_deleted():
    _stranger, holder = PersonFactory.create_batch(2)
    LicenseFactory(person=holder)
    deleted, deactivated = people_delete(people=Person.objects.all())
    assert (deleted, deactivated) == (1, 1)
    assert list(Person.objects.values_list("pk", "active")) == [(holder.pk, False)]


def test_delete_page_says_holders_are_deactivated(portal_admin_client):
    person = PersonFactory()
    UserGroupFactory(members=[person])
    response = portal_admin_client.get(reverse("admin:assignments_person_delete", args=[person.pk]))
    assert "deactivated and removed from their groups" in response.content.decode()


@pytest.mark.parametrize(
    "row",
    [
        b"email,external_id\nada.new@school.example,S1\n",
        b"email,managed_apple_id\nada.new@school.example,ada@appleid.example\n",
    ],
)
def test_a_deleted_person_under_a_new_email_is_found_by_external_or_managed_id(row):
    ada = PersonFactory(
        email="ada@school.example", external_id="S1", managed_apple_id="ada@appleid.example"
    )
    licence = LicenseFactory(person=ada)
    people_delete(people=Person.objects.filter(pk=ada.pk))
    assert people_import(data=row).ok
    ada.refresh_from_db()
    assert (ada.email, ada.active, ada.removed_at) == ("ada.new@school.example", True, None)
    assert Person.objects.count() == 1
    licence.refresh_from_db()
    assert licence.person_id == ada.pk


def test_an_external_id_of_someone_still_here_is_refused():
    PersonFactory(email="old@school.example", external_id="S1")
    PersonFactory(email="new@school.example")
    result = people_import(data=b"email,external_id\nnew@school.example,S1\n")
    assert [e.message for e in result.errors] == [
        "external_id \u201cS1\u201d already belongs to old@school.example."
    ]
