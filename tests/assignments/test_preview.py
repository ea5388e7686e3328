"""The irrevocability preview: numbers on crafted cases, computed by SQL aggregates."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from assignments.models import AppleUser, License
from assignments.selectors import assignment_preview
from tests.factories import (
    AppleUserFactory,
    EBookFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
    VppTokenFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ebook():
    return EBookFactory(total_count=20, available_count=10)


def test_targets_distinct_active_members_of_all_groups(ebook):
    shared = PersonFactory()
    inactive = PersonFactory(active=False)
    grade9 = UserGroupFactory(members=[shared, inactive, *PersonFactory.create_batch(4)])
    grade10 = UserGroupFactory(members=[shared, *PersonFactory.create_batch(2)])
    preview = assignment_preview(ebook=ebook, groups=[grade9, grade10])
    assert preview.targeted == 7
    assert preview.needed == 7
    assert preview.will_consume == 7
    assert preview.shortfall == 0


def test_members_of_excluded_groups_are_left_out(ebook):
    teachers = PersonFactory.create_batch(3)
    everyone = UserGroupFactory(members=[*teachers, *PersonFactory.create_batch(5)])
    excluded = UserGroupFactory(members=teachers)
    preview = assignment_preview(ebook=ebook, groups=[everyone], excluded_groups=[excluded])
    assert preview.targeted == 5


def test_people_already_holding_the_book_consume_nothing(ebook):
    holders = PersonFactory.create_batch(3)
    group = UserGroupFactory(members=[*holders, *PersonFactory.create_batch(4)])
    LicenseFactory(ebook=ebook, person=holders[0], state=License.State.ASSIGNED)
    LicenseFactory(ebook=ebook, person=holders[1], state=License.State.PENDING)
    # A failed attempt and a license for another book do not count as holding this one.
    LicenseFactory(ebook=ebook, person=holders[2], state=License.State.FAILED)
    LicenseFactory(ebook=EBookFactory(token=ebook.token), person=holders[2])
    preview = assignment_preview(ebook=ebook, groups=[group])
    assert preview.targeted == 7
    assert preview.already_held == 2
    assert preview.will_consume == 5


def test_shortfall_when_fewer_licenses_are_available_than_needed(ebook):
    group = UserGroupFactory(members=PersonFactory.create_batch(14))
    # A pending license elsewhere is already spoken for: 10 available - 1 pending = 9.
    LicenseFactory(ebook=ebook, state=License.State.PENDING)
    preview = assignment_preview(ebook=ebook, groups=[group])
    assert preview.available == 9
    assert preview.will_consume == 9
    assert preview.short_of_licenses == 5
    assert preview.shortfall == 5
    assert any("Shortfall: 5 people" in line for line in preview.lines())


def test_cap_limits_what_is_consumed(ebook):
    group = UserGroupFactory(members=PersonFactory.create_batch(8))
    preview = assignment_preview(ebook=ebook, groups=[group], cap=3)
    assert preview.will_consume == 3
    assert preview.beyond_cap == 5
    assert preview.short_of_licenses == 0
    assert preview.shortfall == 5


def test_members_who_already_hold_the_book_count_against_the_cap(ebook):
    people = PersonFactory.create_batch(8)
    group = UserGroupFactory(members=people)
    for holder in people[:2]:
        LicenseFactory(ebook=ebook, person=holder, state=License.State.ASSIGNED)
    preview = assignment_preview(ebook=ebook, groups=[group], cap=3)
    assert preview.will_consume == 1
    assert preview.beyond_cap == 5


def test_cap_and_shortage_together_never_consume_more_than_available():
    ebook = EBookFactory(available_count=2)
    group = UserGroupFactory(members=PersonFactory.create_batch(10))
    preview = assignment_preview(ebook=ebook, groups=[group], cap=5)
    assert (preview.will_consume, preview.beyond_cap, preview.short_of_licenses) == (2, 5, 3)


def test_unlimited_books_have_no_shortfall():
    ebook = EBookFactory(free=True)
    group = UserGroupFactory(members=PersonFactory.create_batch(6))
    preview = assignment_preview(ebook=ebook, groups=[group])
    assert preview.available is None
    assert preview.will_consume == 6
    assert preview.shortfall == 0


def test_invitations_needed_only_by_unregistered_people_without_managed_apple_id(ebook):
    managed = PersonFactory(managed=True)
    joined = PersonFactory()
    AppleUserFactory(token=ebook.token, person=joined, status=AppleUser.Status.ASSOCIATED)
    invited = PersonFactory()  # invited but not accepted yet
    AppleUserFactory(token=ebook.token, person=invited, status=AppleUser.Status.REGISTERED)
    joined_elsewhere = PersonFactory()  # joined for another token only
    AppleUserFactory(
        token=VppTokenFactory(), person=joined_elsewhere, status=AppleUser.Status.ASSOCIATED
    )
    never = PersonFactory()
    group = UserGroupFactory(members=[managed, joined, invited, joined_elsewhere, never])
    preview = assignment_preview(ebook=ebook, groups=[group])
    assert preview.need_invitation == 3


def test_preview_is_two_counting_queries_whatever_the_group_size(ebook):
    small = UserGroupFactory(members=PersonFactory.create_batch(2))
    big, excluded = UserGroupFactory(members=PersonFactory.create_batch(50)), UserGroupFactory()
    with CaptureQueriesContext(connection) as few:
        assignment_preview(ebook=ebook, groups=[small], excluded_groups=[excluded])
    with CaptureQueriesContext(connection) as many:
        assignment_preview(ebook=ebook, groups=[big], excluded_groups=[excluded])
    assert len(many) == len(few)
    # The people's counts in one statement, the licenses on their way in another (the rest is
    # the savepoint and, on PostgreSQL, the plan setting around the first).
    assert len([q for q in many.captured_queries if "COUNT(" in q["sql"]]) == 2
    assert len(many) <= 6


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="parallel plans are PostgreSQL's; SQLite has none"
)
def test_counts_run_without_parallel_workers_and_the_callers_setting_comes_back(ebook):
    group = UserGroupFactory(members=PersonFactory.create_batch(3))
    seen = []

    def watch(execute, sql, params, many, context):
        if sql.startswith("SELECT (SELECT COUNT(*)"):
            with connection.cursor() as cursor:  # the count's own transaction
                cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')")
                seen.append(cursor.fetchone()[0])
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 3")
        with connection.execute_wrapper(watch):
            preview = assignment_preview(ebook=ebook, groups=[group])
        cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')")
        after = cursor.fetchone()[0]
    assert preview.targeted == 3
    assert seen == ["0"]
    assert after == "3"
