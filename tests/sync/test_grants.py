"""Licenses a run holds between its steps: which rows count as another run's."""

from __future__ import annotations

import pytest
from django.db import connection

from assignments.models import AppleUser, License
from sync.reconcile.grants import held_by_other_runs, held_by_other_runs_drop, held_marker
from tests.factories import EBookFactory, LicenseFactory

State = License.State
pytestmark = pytest.mark.django_db


def _license(ebook, state: str, event_id: str) -> License:
    return LicenseFactory(ebook=ebook, state=state, event_id=event_id)


def test_only_pending_rows_other_runs_hold_are_dropped():
    ebook = EBookFactory()
    theirs = _license(ebook, State.PENDING, held_marker(7))
    _license(ebook, State.PENDING, held_marker(8))  # this run's own
    _license(ebook, State.PENDING, "")  # maybe sent: checked against Apple, not dropped
    _license(ebook, State.PENDING, "0f6c1d9e-apple-event")
    _license(ebook, State.ASSIGNED, held_marker(7))
    _license(EBookFactory(), State.PENDING, held_marker(7))  # another token's

    assert list(held_by_other_runs(token=ebook.token, run_id=8)) == [theirs]
    assert held_by_other_runs_drop(token=ebook.token, run_id=8) == 1
    assert not License.objects.filter(pk=theirs.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_held_rows_are_read_from_the_pending_event_index():
    """Every run start asks, the no-op run included: a range of the partial index on pending
    rows' event ids, not the state index (full of dead entries right after a big push)."""
    ebook = EBookFactory()
    users = AppleUser.objects.bulk_create(
        AppleUser(token=ebook.token, client_user_id=f"u{n}") for n in range(3000)
    )
    License.objects.bulk_create(
        License(
            token=ebook.token, ebook=ebook, apple_user=user, state=State.PENDING, event_id=f"e{n}"
        )
        for n, user in enumerate(users)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE assignments_license")  # most licenses pending, as mid-push

    plan = held_by_other_runs(token=ebook.token, run_id=1).explain()

    assert "license_pending_event" in plan
    assert "license_state_not_assigned" not in plan
