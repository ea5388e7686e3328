"""The reconciler's own writes: Apple users made for people, books offered."""

from __future__ import annotations

import pytest

from assignments import license_records as records
from assignments.models import AppleUser, BookOffer
from tests.factories import EBookFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ebook():
    return EBookFactory()


def test_apple_users_are_made_once_per_person_and_token(ebook):
    token = ebook.token
    managed, plain = PersonFactory(managed=True), PersonFactory()
    kept = AppleUser.objects.create(
        token=token, person=plain, client_user_id="pfx-existing", status="associated"
    )
    users = records.apple_users_prepare(
        token=token, person_ids=[managed.pk, plain.pk], prefix="pfx-"
    )
    assert users[plain.pk].pk == kept.pk and users[plain.pk].status == "associated"
    made = users[managed.pk]
    assert made.status == AppleUser.Status.PENDING and made.client_user_id.startswith("pfx-")
    assert made.managed_apple_id == managed.managed_apple_id and made.email == managed.email
    row = AppleUser.objects.get(pk=made.pk)
    assert row.managed and row.person_id == managed.pk and row.client_user_id == made.client_user_id
    again = records.apple_users_prepare(token=token, person_ids=[managed.pk], prefix="pfx-")
    assert again[managed.pk] == made
    assert AppleUser.objects.filter(token=token).count() == 2


def test_offers_write_only_what_changed(ebook):
    first, second = PersonFactory(), PersonFactory()
    intents = {first.pk: "available", second.pk: "available"}
    assert records.offers_record(ebook=ebook, person_intents=intents) == 2
    assert records.offers_record(ebook=ebook, person_intents=intents) == 0
    assert records.offers_record(ebook=ebook, person_intents={second.pk: "required"}) == 1
    assert dict(BookOffer.objects.filter(ebook=ebook).values_list("person_id", "intent")) == {
        first.pk: "available",
        second.pk: "required",
    }
