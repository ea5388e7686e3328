"""People left without a license because there are too few are told so, not "waiting"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assignments.models import GroupAssignment, License
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.reconcile import reconcile_token
from tests.factories import PersonFactory, UserGroupFactory
from tokens.crypto import decrypt

pytestmark = pytest.mark.django_db
State = License.State


@pytest.fixture(autouse=True)
def no_task_queue(monkeypatch):
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda token_id: None)


def test_invited_people_past_the_licenses_left_are_shown_short_first(
    apple, vpp_token, sync_now, portal_admin_client
):
    sync_now(vpp_token)
    book = EBook.objects.filter(token=vpp_token, unlimited=False, available_count__gte=5).first()
    content = decrypt(vpp_token.secret_ciphertext)
    apple.change_license_count(
        content, book.adam_id, book.pricing_param, -(book.available_count - 2)
    )
    sync_now(vpp_token)
    book.refresh_from_db()
    assert book.available_count == 2
    people = PersonFactory.create_batch(5)  # no managed Apple ID: each needs an invitation
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(members=people)],
        intent=GroupAssignment.Intent.REQUIRED,
        confirmed_irrevocable=True,
    )

    result = reconcile_token(token=vpp_token)

    states = sorted(License.objects.filter(ebook=book).values_list("state", flat=True))
    assert states == sorted([State.WAITING_INVITATION] * 2 + [State.NOT_ENOUGH] * 3)
    assert result.shortfall == 3
    short = License.objects.filter(ebook=book, state=State.NOT_ENOUGH).first()
    page = portal_admin_client.get(
        reverse("admin:assignments_person_change", args=[short.person_id])
    ).content.decode()
    assert "Not enough licenses" in page
    assert "Waiting for the invitation" not in page
