"""The reconciler's own writes: Apple users made for people, books offered."""

from __future__ import annotations

import pytest

from assignments import license_records as records
from assignments.models import AppleUser, BookOffer, InstallRequest, License
from tests.factories import DeviceFactory, EBookFactory, LicenseFactory, PersonFactory

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


def test_apple_users_read_open_the_invite_code_and_skip_retired_users(ebook):
    token = ebook.token
    invited, gone = PersonFactory(), PersonFactory()
    AppleUser.objects.create(
        token=token, person=invited, client_user_id="pfx-a", status="registered", invite_code="c0de"
    )
    AppleUser.objects.create(token=token, person=gone, client_user_id="pfx-b", status="retired")
    users = records.apple_users_prepare(token=token, person_ids=[invited.pk, gone.pk], prefix="p-")
    assert users[invited.pk].invite_code == "c0de"  # stored encrypted, read in clear
    assert users[gone.pk].client_user_id.startswith("p-")  # the retired one is not reused
    assert users[gone.pk].status == AppleUser.Status.PENDING


def test_event_outcome_names_what_it_assigned_and_installs_only_required_books(ebook):
    other = EBookFactory(token=ebook.token)
    pupil, failing = PersonFactory(), PersonFactory()
    DeviceFactory(owner=pupil, has_books_app=True)
    rows = [
        LicenseFactory(ebook=book, person=person, state=License.State.PENDING, event_id="ev-1")
        for book in (ebook, other)
        for person in (pupil, failing)
    ]
    BookOffer.objects.create(person=pupil, ebook=ebook, intent="required")
    BookOffer.objects.create(person=pupil, ebook=other, intent="available")
    failed = {(None, rows[1].apple_user.client_user_id): ("failed", 9610, "no")}
    assigned, held = records.licenses_event_outcome(
        token=ebook.token, event_id="ev-1", failed=failed, at=rows[0].updated_at
    )
    assert assigned == 2 and sorted(held) == sorted([(ebook.pk, pupil.pk), (other.pk, pupil.pk)])
    assert records.install_requests_for_licenses(rows=held) == 1
    assert list(InstallRequest.objects.values_list("ebook_id", "person_id")) == [
        (ebook.pk, pupil.pk)
    ]
    again = records.licenses_event_outcome(
        token=ebook.token, event_id="ev-1", failed=failed, at=rows[0].updated_at
    )
    assert again == (0, [])  # applied twice, nothing moves
