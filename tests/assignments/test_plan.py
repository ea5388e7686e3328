"""The reconciler's plan on its own: who should hold a book, pure reads, no Apple."""

from __future__ import annotations

import pytest

from assignments.models import GroupAssignment, License
from assignments.plan import book_plan, books_to_plan
from tests.factories import (
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db
Intent = GroupAssignment.Intent


def test_plan_targets_members_minus_excluded_and_inactive():
    book = EBookFactory()
    stays, excluded, inactive = PersonFactory(), PersonFactory(), PersonFactory(active=False)
    group = UserGroupFactory(members=[stays, excluded, inactive])
    assignment = GroupAssignmentFactory(ebook=book, group=group)
    assignment.excluded_groups.set([UserGroupFactory(members=[excluded])])
    plan = book_plan(ebook=book)
    assert plan.targeted == [stays.pk]
    assert plan.wanted == [stays.pk]


def test_plan_leaves_out_people_who_hold_or_await_the_book():
    book = EBookFactory()
    holder, on_its_way, refused, lacking = PersonFactory.create_batch(4)
    GroupAssignmentFactory(
        ebook=book, group=UserGroupFactory(members=[holder, on_its_way, refused, lacking])
    )
    LicenseFactory(ebook=book, person=holder, state=License.State.ASSIGNED)
    LicenseFactory(ebook=book, person=on_its_way, state=License.State.PENDING, event_id="e1")
    LicenseFactory(ebook=book, person=refused, state=License.State.NOT_ENOUGH)
    plan = book_plan(ebook=book)
    assert set(plan.targeted) == {holder.pk, on_its_way.pk, refused.pk, lacking.pk}
    assert plan.wanted == sorted([refused.pk, lacking.pk])


def test_cap_counts_people_who_already_hold_the_book():
    book = EBookFactory()
    people = PersonFactory.create_batch(5)
    GroupAssignmentFactory(ebook=book, group=UserGroupFactory(members=people), cap=3)
    LicenseFactory(ebook=book, person=people[4], state=License.State.ASSIGNED)
    plan = book_plan(ebook=book)
    assert plan.wanted == [people[0].pk, people[1].pk]  # 3 allowed, one already holds it
    assert len(plan.targeted) == 3


def test_strongest_intent_wins_when_two_assignments_cover_a_person():
    book = EBookFactory()
    both, offered_only = PersonFactory(), PersonFactory()
    GroupAssignmentFactory(
        ebook=book, group=UserGroupFactory(members=[both, offered_only]), intent=Intent.AVAILABLE
    )
    GroupAssignmentFactory(
        ebook=book, group=UserGroupFactory(members=[both]), intent=Intent.REQUIRED
    )
    plan = book_plan(ebook=book)
    assert plan.intents == {both.pk: Intent.REQUIRED, offered_only.pk: Intent.AVAILABLE}


def test_books_to_plan_pages_from_a_cursor_and_skips_gone_and_unassigned_books():
    from django.utils import timezone

    token = EBookFactory().token
    books = EBookFactory.create_batch(5, token=token)
    for book in books:
        GroupAssignmentFactory(ebook=book)
    gone = EBookFactory(token=token, gone_at=timezone.now())
    GroupAssignmentFactory(ebook=gone)
    assert [b.pk for b in books_to_plan(token=token, batch=2)] == [b.pk for b in books]
    after = books[1].pk
    assert [b.pk for b in books_to_plan(token=token, after_pk=after)] == [b.pk for b in books[2:]]
