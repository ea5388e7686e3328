"""The sync's batches: prepared in Python on the reading thread, written by the writer thread.

The binary COPY data is encoded away from the connection (bulk_sql's own framing), so these
tests check that it reads back exactly, NULLs and non-ASCII text included (on PostgreSQL; on
SQLite the same calls take the executemany path).
"""

from __future__ import annotations

import struct
import threading

import pytest
from django.db import connection
from django.utils import timezone

from assignments.apple_records import (
    apple_users_prepare,
    apple_users_write,
    licenses_prepare_from_apple,
    licenses_write,
)
from assignments.bulk_sql import (
    NO_PERSON,
    LicenseRows,
    _binary_cursor,
    copy_binary_bigint_rows,
    int8_array,
    licenses_copy_payload,
)
from assignments.models import AppleUser, License
from sync.engine import Batch, SyncEngine
from sync.models import SyncRun
from tests.factories import AppleUserFactory, EBookFactory, PersonFactory, VppTokenFactory

PREFIX = "sk-test-"


@pytest.mark.django_db(transaction=True)
def test_batches_are_prepared_while_reading_and_written_by_the_writer_in_order():
    """Outside a transaction, prepare runs on the reading thread, write on the writers."""
    run = SyncRun.objects.create(
        token=VppTokenFactory(), state=SyncRun.State.RUNNING, trigger=SyncRun.Trigger.COMMAND
    )
    engine = SyncEngine(run, client=object())
    reader = threading.current_thread()
    prepared_on, written = [], []

    def prepare(batch: Batch) -> list:
        prepared_on.append(threading.current_thread())
        return [row * 2 for row in batch.rows]

    def write(batch: Batch, prepared: list) -> None:
        written.append((threading.current_thread(), batch.pages, prepared))

    batches = [Batch(rows=[n, n + 1], pages=n) for n in range(1, 6)]
    engine._write_batches(iter(batches), prepare, write)

    assert prepared_on == [reader] * 5
    # Two writers may finish in either order; each batch is written once, with its own rows.
    assert sorted((pages, prepared) for _, pages, prepared in written) == [
        (n, [2 * n, 2 * n + 2]) for n in range(1, 6)
    ]
    assert all(thread is not reader for thread, _, _ in written)


@pytest.mark.django_db(transaction=True)
def test_two_batches_are_written_side_by_side():
    """WRITERS connections: one writer's batch is in the database while the other's waits
    for its turn on the GIL (a barrier both writes must reach at once)."""
    run = SyncRun.objects.create(
        token=VppTokenFactory(), state=SyncRun.State.RUNNING, trigger=SyncRun.Trigger.COMMAND
    )
    engine = SyncEngine(run, client=object())
    both_writing = threading.Barrier(2, timeout=10)
    writers = set()

    def write(batch: Batch, prepared: list) -> None:
        writers.add(threading.current_thread())
        both_writing.wait()  # BrokenBarrierError (raised by _write_batches) with one writer

    engine._write_batches(iter([Batch(rows=[1]), Batch(rows=[2])]), lambda b: b.rows, write)

    assert len(writers) == 2


@pytest.mark.django_db(transaction=True)
def test_a_writer_failure_stops_the_reading_and_is_raised():
    run = SyncRun.objects.create(
        token=VppTokenFactory(), state=SyncRun.State.RUNNING, trigger=SyncRun.Trigger.COMMAND
    )
    engine = SyncEngine(run, client=object())
    prepared = []

    def batches():
        for n in range(100):
            yield Batch(rows=[n], pages=1)

    def write(batch: Batch, rows: list) -> None:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError, match="database gone"):
        engine._write_batches(batches(), lambda b: prepared.append(b.rows) or b.rows, write)
    assert len(prepared) < 100  # the reader stopped early instead of preparing everything


@pytest.mark.django_db
def test_licenses_encoded_ahead_read_back_exactly_with_null_people():
    ebook = EBookFactory()
    token = ebook.token
    person = PersonFactory()
    known = AppleUserFactory(token=token, person=person, client_user_id=f"{PREFIX}known")
    loose = AppleUserFactory(token=token, person=None, client_user_id=f"{PREFIX}loose")
    ebook_ids = {(ebook.adam_id, ebook.pricing_param): ebook.pk}
    user_ids = {known.client_user_id: (known.pk, person.pk), loose.client_user_id: (loose.pk, None)}
    rows = [
        _assignment(ebook, known.client_user_id),
        _assignment(ebook, loose.client_user_id),
        _assignment(ebook, "other-product-1"),
        _assignment(ebook, f"{PREFIX}new"),  # not in the map: resolved by the writer
    ]

    prepared = licenses_prepare_from_apple(
        rows, ebook_ids=ebook_ids, user_ids=dict(user_ids), prefix=PREFIX, copy_payload=True
    )
    assert prepared.copy_payload
    assert prepared.unknown == [(ebook.pk, f"{PREFIX}new")]
    counts = licenses_write(
        token=token, prepared=prepared, user_ids=user_ids, seen_at=timezone.now(), check=True
    )

    assert (counts.ours, counts.foreign, counts.orphans) == (3, 1, 0)
    new = AppleUser.objects.get(token=token, client_user_id=f"{PREFIX}new")
    assert new.status == AppleUser.Status.RETIRED
    assert set(License.objects.values_list("apple_user_id", "person_id", "state")) == {
        (known.pk, person.pk, License.State.ASSIGNED),
        (loose.pk, None, License.State.ASSIGNED),
        (new.pk, None, License.State.ASSIGNED),
    }


@pytest.mark.django_db
def test_a_user_resolved_by_the_writer_meanwhile_is_not_staged_twice():
    """The reader reads the user map while the writer adds to it: the same license may come
    back both prepared and unknown, and a row staged twice would fail the upsert."""
    ebook = EBookFactory()
    token = ebook.token
    user = AppleUserFactory(token=token, person=None, client_user_id=f"{PREFIX}late")
    ebook_ids = {(ebook.adam_id, ebook.pricing_param): ebook.pk}
    before = licenses_prepare_from_apple(
        [_assignment(ebook, user.client_user_id)], ebook_ids=ebook_ids, user_ids={}, prefix=PREFIX
    )
    after = licenses_prepare_from_apple(
        [_assignment(ebook, user.client_user_id)],
        ebook_ids=ebook_ids,
        user_ids={user.client_user_id: (user.pk, None)},
        prefix=PREFIX,
        copy_payload=True,
    )
    after.unknown = before.unknown  # the same batch, read half before and half after

    for fresh in (True, False):
        licenses_write(
            token=token, prepared=after, user_ids={}, seen_at=timezone.now(), fresh=fresh
        )
        assert License.objects.filter(apple_user=user).count() == 1


@pytest.mark.django_db
def test_a_license_apple_lists_twice_in_a_batch_is_written_once():
    ebook = EBookFactory()
    token = ebook.token
    user = AppleUserFactory(token=token, person=None, client_user_id=f"{PREFIX}twice")
    twice = [_assignment(ebook, user.client_user_id)] * 2

    for fresh in (True, False):
        prepared = licenses_prepare_from_apple(
            twice,
            ebook_ids={(ebook.adam_id, ebook.pricing_param): ebook.pk},
            user_ids={user.client_user_id: (user.pk, None)},
            prefix=PREFIX,
            copy_payload=connection.vendor == "postgresql",
        )
        counts = licenses_write(
            token=token, prepared=prepared, user_ids={}, seen_at=timezone.now(), fresh=fresh
        )
        assert counts.ours == 2  # as Apple listed them
        assert License.objects.filter(apple_user=user).count() == 1


@pytest.mark.django_db
def test_users_copied_read_back_exactly_with_non_ascii_text():
    token = VppTokenFactory()
    users = [  # Apple's JSON objects, as the sync reads them
        {
            "clientUserId": f"{PREFIX}1",
            "status": "Registered",
            "email": "zoë@école.example",
            "inviteCode": "INV-ü-1",
        },
        {
            "clientUserId": f"{PREFIX}2",
            "status": "Associated",
            "email": "",
            "idHash": "h" * 300,
            "inviteCode": "gone",
        },
        {"clientUserId": f"{PREFIX}1", "status": "Retired", "email": "older@example.com"},
        {"clientUserId": "other-product-1", "status": "Registered"},
    ]

    prepared = apple_users_prepare(users, prefix=PREFIX)
    counts = apple_users_write(token=token, prepared=prepared, seen_at=timezone.now())

    assert (counts.ours, counts.foreign) == (3, 1)
    first, second = AppleUser.objects.filter(token=token).order_by("client_user_id")
    assert (first.email, first.status) == ("zoë@école.example", AppleUser.Status.REGISTERED)
    assert first.invite_code == "INV-ü-1"  # decrypted by the model field
    assert (second.status, second.id_hash, second.invite_code) == (
        AppleUser.Status.ASSOCIATED,
        "h" * 200,
        "",
    )


def _assignment(ebook, client_user_id: str) -> dict:
    """An entry of Apple's assignments listing, as the sync reads it (JSON)."""
    return {
        "adamId": ebook.adam_id,
        "pricingParam": ebook.pricing_param,
        "clientUserId": client_user_id,
    }


def test_bigint_copy_rows_match_row_by_row_packing():
    """The column-by-column layout gives the bytes PostgreSQL's binary rows are made of."""
    columns = ([1, 2**40, 7], [3, 0, 2**63 - 1], [NO_PERSON, 5, 9])
    expected = b"".join(
        struct.pack("!hiqiqiq", 3, 8, a, 8, b, 8, c) for a, b, c in zip(*columns, strict=True)
    )
    assert copy_binary_bigint_rows(columns) == expected
    assert licenses_copy_payload(LicenseRows()) == b""


@pytest.mark.django_db
def test_assignment_entries_with_values_of_the_wrong_type_are_skipped_not_fatal():
    """The sync reads Apple's JSON as it comes: odd types are read as the typed client would."""
    ebook = EBookFactory()
    user = AppleUserFactory(token=ebook.token, person=None, client_user_id=f"{PREFIX}1")
    entries = [
        {"adamId": ["not", "hashable"], "clientUserId": f"{PREFIX}1"},
        {"adamId": ebook.adam_id, "pricingParam": ebook.pricing_param, "clientUserId": 42},
        {"adamId": ebook.adam_id, "pricingParam": {"odd": 1}, "clientUserId": f"{PREFIX}1"},
        {"adamId": ebook.adam_id, "serialNumber": "C02X"},  # a device's license
        _assignment(ebook, f"{PREFIX}1"),
    ]

    prepared = licenses_prepare_from_apple(
        entries,
        ebook_ids={(ebook.adam_id, ebook.pricing_param): ebook.pk},
        user_ids={user.client_user_id: (user.pk, None)},
        prefix=PREFIX,
        copy_payload=True,
    )

    assert (prepared.counts.ours, prepared.counts.skipped) == (1, 4)
    assert prepared.rows.staged() == [(user.pk, ebook.pk, NO_PERSON)]


@pytest.mark.django_db
def test_user_entries_with_values_of_the_wrong_type_read_as_blank():
    token = VppTokenFactory()
    users = [
        {"clientUserId": 12345, "status": "Registered"},  # not ours: no prefix
        {"clientUserId": f"{PREFIX}odd", "status": ["?"], "email": 7, "inviteCode": {"x": 1}},
        {"clientUserId": f"{PREFIX}ok", "status": "Associated", "idHash": None},
    ]

    prepared = apple_users_prepare(users, prefix=PREFIX)
    counts = apple_users_write(token=token, prepared=prepared, seen_at=timezone.now())

    assert (counts.ours, counts.foreign) == (2, 1)
    odd = AppleUser.objects.get(token=token, client_user_id=f"{PREFIX}odd")
    assert (odd.status, odd.email, odd.invite_code) == (AppleUser.Status.REGISTERED, "", "")


@pytest.mark.django_db
def test_apple_text_with_a_nul_is_stored_without_it_and_an_id_no_column_holds_is_not_ours():
    """PostgreSQL stores no NUL: one such user or license in Apple's listing failed the whole
    batch (and so the sync). Text loses the NUL; an id with one is not an id we made."""
    ebook = EBookFactory()
    token = ebook.token
    users = [
        {"clientUserId": f"{PREFIX}ok", "status": "Associated", "email": "a\x00@b.example"},
        {"clientUserId": f"{PREFIX}ok2", "status": "Registered", "idHash": "h\x00sh"},
        {"clientUserId": f"{PREFIX}b\x00d", "status": "Associated"},
        {"clientUserId": PREFIX + "x" * 120, "status": "Associated"},  # longer than ours
    ]

    counts = apple_users_write(
        token=token,
        prepared=apple_users_prepare(users, prefix=PREFIX),
        seen_at=timezone.now(),
    )

    assert (counts.ours, counts.foreign) == (2, 2)
    stored = dict(AppleUser.objects.values_list("client_user_id", "email"))
    assert stored == {f"{PREFIX}ok": "a@b.example", f"{PREFIX}ok2": ""}
    assert AppleUser.objects.get(client_user_id=f"{PREFIX}ok2").id_hash == "hsh"

    user = AppleUser.objects.get(client_user_id=f"{PREFIX}ok")
    prepared = licenses_prepare_from_apple(
        [
            _assignment(ebook, f"{PREFIX}ok"),
            _assignment(ebook, f"{PREFIX}b\x00d"),
            _assignment(ebook, PREFIX + "x" * 120),
        ],
        ebook_ids={(ebook.adam_id, ebook.pricing_param): ebook.pk},
        user_ids={user.client_user_id: (user.pk, None)},
        prefix=PREFIX,
        copy_payload=True,
    )
    assert prepared.unknown == []  # never made into an Apple user by the writer
    counts = licenses_write(
        token=token, prepared=prepared, user_ids={}, seen_at=timezone.now(), check=True
    )
    assert (counts.ours, counts.foreign, counts.orphans) == (1, 2, 0)
    assert list(License.objects.values_list("apple_user__client_user_id", flat=True)) == [
        f"{PREFIX}ok"
    ]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL binary array")
@pytest.mark.parametrize("values", [[], [1], [5, -3, 2**63 - 1, -(2**63), 0, 5]])
def test_int8_array_parameters_read_back_exactly(values):
    """The reconciler's bigint arrays, laid out by us rather than psycopg's list dumper."""
    with _binary_cursor() as cursor:
        cursor.execute(
            "SELECT %b::bigint[], (SELECT count(*) FROM unnest(%b::bigint[]))",
            [int8_array(values), int8_array(values)],
        )
        read, count = cursor.fetchone()
    assert (read, count) == (values, len(values))
