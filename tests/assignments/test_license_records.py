"""The reconciler's own writes: Apple users made for people, books offered."""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from assignments import bulk_sql
from assignments import license_records as records
from assignments.models import AppleUser, BookOffer, InstallRequest, License, Person
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


def test_a_request_writes_its_licenses_pending_with_its_key_once(ebook):
    """Each book's license for each user of one request, with the request's key: written
    once, before Apple is asked; a license Apple gave already is never moved back."""
    other, untouched = EBookFactory(token=ebook.token), EBookFactory(token=ebook.token)
    failed = LicenseFactory(ebook=ebook, state=License.State.FAILED, error_number=9610)
    held = LicenseFactory(
        ebook=other, apple_user=failed.apple_user, state=License.State.ASSIGNED, event_id="ev-old"
    )
    fresh = LicenseFactory(ebook=untouched, state=License.State.FAILED).apple_user
    users = records.apple_users_prepare(
        token=ebook.token, person_ids=[failed.person_id, fresh.person_id], prefix="x"
    )
    records.licenses_requested(
        token=ebook.token,
        ebooks=[ebook, other],
        users=list(users.values()),
        event_id="req:1",
        at=timezone.now(),
    )
    rows = {
        (e, u): (state, event_id, number)
        for e, u, state, event_id, number in License.objects.values_list(
            "ebook_id", "apple_user_id", "state", "event_id", "error_number"
        )
    }
    assert rows == {
        (ebook.pk, failed.apple_user_id): ("pending", "req:1", None),
        (other.pk, held.apple_user_id): ("assigned", "ev-old", None),
        (ebook.pk, fresh.pk): ("pending", "req:1", None),
        (other.pk, fresh.pk): ("pending", "req:1", None),
        (untouched.pk, fresh.pk): ("failed", "", None),
    }


def test_new_users_carry_the_key_of_their_registration_request(ebook):
    """Made in blocks of one request each, the key written with the user; users made before
    keys (or to register again) get theirs in blocks the same way."""
    people = PersonFactory.create_batch(5)
    made = records.apple_users_prepare(
        token=ebook.token, person_ids=[p.pk for p in people], prefix="x", request_size=2
    )
    keys = [made[p.pk].event_id for p in people]
    assert all(k.startswith("req:") for k in keys)
    assert [keys.count(k) for k in dict.fromkeys(keys)] == [2, 2, 1]
    stored = dict(AppleUser.objects.values_list("person_id", "event_id"))
    assert [stored[p.pk] for p in people] == keys
    AppleUser.objects.update(event_id="")
    bare = list(
        records.apple_users_prepare(
            token=ebook.token, person_ids=[p.pk for p in people], prefix="x"
        ).values()
    )
    keyed = records.apple_users_keyed(token=ebook.token, users=bare, request_size=3)
    assert sorted(Counter(u.event_id for u in keyed).values()) == [2, 3]
    assert dict(AppleUser.objects.values_list("pk", "event_id")) == {
        u.pk: u.event_id for u in keyed
    }


def test_required_books_are_found_per_person(ebook):
    required, available, elsewhere = PersonFactory(), PersonFactory(), PersonFactory()
    BookOffer.objects.create(person=required, ebook=ebook, intent="required")
    BookOffer.objects.create(person=available, ebook=ebook, intent="available")
    BookOffer.objects.create(person=elsewhere, ebook=EBookFactory(), intent="required")
    people = [required.pk, available.pk, elsewhere.pk]
    assert records._required_of(ebook.pk, people) == [required.pk]


@pytest.fixture
def plans(monkeypatch):
    """The PostgreSQL plan of every statement the reconciler's binary cursor runs."""
    seen: list[str] = []
    make_cursor = bulk_sql._binary_cursor

    class Explaining(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            if not query.startswith(("SET", "SELECT set_config")):
                super().execute(f"EXPLAIN {query}", params)
                seen.append("\n".join(row[0] for row in self.fetchall()))
            return super().execute(query, params, **kwargs)

    def explaining_cursor():
        return Explaining(make_cursor().connection)

    monkeypatch.setattr(bulk_sql, "_binary_cursor", explaining_cursor)
    return seen


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_writes_by_key_probe_unique_indexes_whatever_the_statistics_say(ebook, plans):
    """Right after a batch is inserted the statistics describe an older table, here one with no
    pending license. The statements must not trust them (see bulk_sql's _PROBE)."""
    token = ebook.token
    people = Person.objects.bulk_create(
        [Person(email=f"p{i}@example.org") for i in range(3000)], batch_size=1000
    )
    users = AppleUser.objects.bulk_create(
        [AppleUser(token=token, person=p, client_user_id=f"c{p.pk}") for p in people]
    )
    License.objects.bulk_create(
        [
            License(token=token, ebook=ebook, apple_user=u, person_id=u.person_id, state="assigned")
            for u in users[:2000]
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE assignments_license; ANALYZE assignments_appleuser")
    fresh = users[2000:]
    rows = records.apple_users_prepare(
        token=token, person_ids=[u.person_id for u in fresh], prefix="x"
    ).values()
    records.licenses_requested(
        token=token, ebooks=[ebook], users=list(rows), event_id="req:1", at=timezone.now()
    )
    records._required_of(ebook.pk, [u.person_id for u in fresh])
    _, request_insert, _ = plans  # and the reads of users and of Required offers
    assert "license_unique" in request_insert  # the conflict arbiter, no read of the table
    for plan in plans:  # per-row index probes (any index of the key's leading column will do)
        assert not any(scan in plan for scan in ("Seq Scan", "Bitmap", "Hash")), plan
    assert License.objects.filter(event_id="req:1", state="pending").count() == 1000
