"""Assigning and un-assigning books: confirmation, the signal, and licenses that are kept."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q

from assignments import services
from assignments.models import GroupAssignment, License, Membership, Person
from tests.factories import (
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ebook():
    return EBookFactory()


def _assign(ebook, groups, **kwargs):
    options = {"intent": "available", "confirmed_irrevocable": True, **kwargs}
    return services.group_assignment_create(ebook=ebook, groups=groups, **options)


def test_refuses_without_the_irrevocability_confirmation(ebook):
    with pytest.raises(ValidationError, match="never be taken back"):
        _assign(ebook, [UserGroupFactory()], confirmed_irrevocable=False)
    assert not GroupAssignment.objects.exists()


def test_refuses_a_book_that_left_the_token():
    with pytest.raises(ValidationError, match="no longer in its token"):
        _assign(EBookFactory(gone=True), [UserGroupFactory()])
    assert not GroupAssignment.objects.exists()


def test_refuses_a_group_both_assigned_and_excluded(ebook):
    group = UserGroupFactory()
    with pytest.raises(ValidationError, match="both assigned and excluded"):
        _assign(ebook, [group], excluded_groups=[group])


def test_refuses_a_cap_over_several_groups(ebook):
    with pytest.raises(ValidationError, match="cap"):
        _assign(ebook, UserGroupFactory.create_batch(2), cap=5)


def test_creates_one_assignment_per_group_and_reassigning_updates_it(
    ebook, django_capture_on_commit_callbacks, wanted_changes
):
    grade9, grade10, staff = UserGroupFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        _assign(ebook, [grade9, grade10], excluded_groups=[staff])
    assert GroupAssignment.objects.filter(ebook=ebook).count() == 2
    assert wanted_changes == [[ebook.token_id]]

    with django_capture_on_commit_callbacks(execute=True):
        _assign(ebook, [grade9], intent="required")
    assignment = GroupAssignment.objects.get(ebook=ebook, group=grade9)
    assert assignment.intent == "required"
    assert not assignment.excluded_groups.exists()
    assert GroupAssignment.objects.filter(ebook=ebook).count() == 2
    assert wanted_changes == [[ebook.token_id], [ebook.token_id]]


def test_signal_waits_for_the_commit(ebook, django_capture_on_commit_callbacks, wanted_changes):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _assign(ebook, [UserGroupFactory()])
    assert wanted_changes == []
    assert len(callbacks) == 1


def test_removing_an_assignment_keeps_given_licenses(
    ebook, django_capture_on_commit_callbacks, wanted_changes
):
    alice, bob = PersonFactory.create_batch(2)
    grade9 = UserGroupFactory(members=[alice, bob])
    library = UserGroupFactory(members=[bob])
    keep = GroupAssignmentFactory(ebook=ebook, group=grade9)
    GroupAssignmentFactory(ebook=ebook, group=library)
    alice_licence = LicenseFactory(ebook=ebook, person=alice)
    bob_licence = LicenseFactory(ebook=ebook, person=bob)

    with django_capture_on_commit_callbacks(execute=True):
        services.group_assignment_remove(assignment=keep)

    assert not GroupAssignment.objects.filter(pk=keep.pk).exists()
    alice_licence.refresh_from_db()
    bob_licence.refresh_from_db()
    # Nothing is revoked: Alice keeps hers, flagged kept; Bob is still covered by library.
    assert (alice_licence.state, alice_licence.kept) == (License.State.ASSIGNED, True)
    assert (bob_licence.state, bob_licence.kept) == (License.State.ASSIGNED, False)
    assert wanted_changes == [[ebook.token_id]]


def test_removing_a_member_keeps_their_license_and_signals(
    ebook, django_capture_on_commit_callbacks, wanted_changes
):
    alice, bob = PersonFactory.create_batch(2)
    group = UserGroupFactory(members=[alice, bob])
    GroupAssignmentFactory(ebook=ebook, group=group)
    licence = LicenseFactory(ebook=ebook, person=alice)

    with django_capture_on_commit_callbacks(execute=True):
        services.group_members_change(group=group, remove_person_ids=[alice.pk])

    licence.refresh_from_db()
    assert licence.kept is True
    assert licence.state == License.State.ASSIGNED
    assert not Membership.objects.filter(group=group, person=alice).exists()
    assert wanted_changes == [[ebook.token_id]]

    # Back in the group: the license is wanted again, no longer just kept.
    with django_capture_on_commit_callbacks(execute=True):
        services.group_members_change(group=group, add_person_ids=[alice.pk])
    licence.refresh_from_db()
    assert licence.kept is False
    assert len(wanted_changes) == 2


def test_excluding_a_member_later_marks_their_license_kept(ebook):
    alice = PersonFactory()
    group, excluded = UserGroupFactory(members=[alice]), UserGroupFactory()
    _assign(ebook, [group])
    licence = LicenseFactory(ebook=ebook, person=alice)
    services.group_members_change(group=excluded, add_person_ids=[alice.pk])
    licence.refresh_from_db()
    assert licence.kept is False  # excluded is not yet excluded by the assignment
    _assign(ebook, [group], excluded_groups=[excluded])
    licence.refresh_from_db()
    assert licence.kept is True


def test_memberships_delete_keeps_licenses(
    ebook, django_capture_on_commit_callbacks, wanted_changes
):
    people = PersonFactory.create_batch(3)
    group = UserGroupFactory(members=people)
    GroupAssignmentFactory(ebook=ebook, group=group)
    for person in people:
        LicenseFactory(ebook=ebook, person=person)
    with django_capture_on_commit_callbacks(execute=True):
        services.memberships_delete(memberships=Membership.objects.filter(person__in=people[:2]))
    assert set(License.objects.filter(kept=True).values_list("person", flat=True)) == {
        people[0].pk,
        people[1].pk,
    }
    assert License.objects.count() == 3
    assert wanted_changes == [[ebook.token_id]]


def test_deactivating_a_person_keeps_their_licenses_and_signals(
    ebook, django_capture_on_commit_callbacks, wanted_changes
):
    alice = PersonFactory()
    GroupAssignmentFactory(ebook=ebook, group=UserGroupFactory(members=[alice]))
    licence = LicenseFactory(ebook=ebook, person=alice)
    alice.active = False
    with django_capture_on_commit_callbacks(execute=True):
        services.person_save(person=alice, active_changed=True)
    licence.refresh_from_db()
    assert licence.kept is True
    assert wanted_changes == [[ebook.token_id]]


def test_membership_change_of_a_group_without_assignments_sends_nothing(
    django_capture_on_commit_callbacks, wanted_changes
):
    group = UserGroupFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.group_members_change(group=group, add_person_ids=[PersonFactory().pk])
    assert wanted_changes == []


def test_deleting_a_group_keeps_its_members_licenses(ebook):
    alice = PersonFactory()
    group = UserGroupFactory(members=[alice])
    GroupAssignmentFactory(ebook=ebook, group=group)
    licence = LicenseFactory(ebook=ebook, person=alice)
    services.user_groups_delete(groups=type(group).objects.filter(pk=group.pk))
    licence.refresh_from_db()
    assert licence.kept is True
    assert not GroupAssignment.objects.exists()


def test_deleting_a_person_leaves_their_licenses_marked_kept(ebook):
    alice = PersonFactory()
    licence = LicenseFactory(ebook=ebook, person=alice)
    services.people_delete(people=Person.objects.filter(pk=alice.pk))
    assert License.objects.filter(Q(pk=licence.pk) & Q(kept=True)).exists()
