"""Writes the license reconciler makes: Apple users it registers, license states it records,
books offered and installs requested. Every intention is written before Apple is asked, so a
crash between the two leaves a row that says "pending", never a second request for the same
thing. A pending license carries the key of its request; one whose request has no answer
recorded (the reconciler's outbox) is checked against Apple by the next run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from assignments import bulk_sql
from assignments.models import AppleUser, BookOffer, Device, InstallRequest, License, Person
from ebooks.models import EBook
from tokens.models import VppToken

Status = AppleUser.Status
State = License.State
CHUNK = 5000  # ids per IN (...) list: below SQLite's variable limit, small for PostgreSQL
REQUEST_KEY_PREFIX = "req:"


def request_key() -> str:
    """Our own key for one request to Apple, written on its rows before it leaves."""
    return f"{REQUEST_KEY_PREFIX}{uuid.uuid4().hex}"


class UserRow(NamedTuple):
    """The columns of an Apple user the reconciler needs (no ORM instance per row)."""

    pk: int
    person_id: int
    token_id: int
    client_user_id: str
    status: str
    email: str
    invite_code: str
    invitation_sent_at: datetime | None
    managed_apple_id: str
    event_id: str
    invitation_mail: str


_USER_COLUMNS = (
    "pk",
    "person_id",
    "token_id",
    "client_user_id",
    "status",
    "email",
    "invite_code",
    "invitation_sent_at",
    "person__managed_apple_id",
    "event_id",
    "invitation_mail",
)


def _chunks(items: Sequence, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _live_users(token: VppToken, person_ids: Sequence[int]) -> dict[int, UserRow]:
    if connection.vendor == "postgresql":
        return _live_users_pg(token, person_ids)
    found: dict[int, UserRow] = {}
    for part in _chunks(person_ids):
        for values in (
            AppleUser.objects.filter(token=token, person_id__in=part)
            .filter(~Q(status=Status.RETIRED))
            .values_list(*_USER_COLUMNS)
        ):
            row = UserRow(*values[:8], values[8] or "", *values[9:])
            found[row.person_id] = row
    return found


def _live_users_pg(token: VppToken, person_ids: Sequence[int]) -> dict[int, UserRow]:
    """PostgreSQL: the ids go as one binary array (= ANY), not an IN list of thousands of
    quoted literals the server parses and plans again for every slice (70 ms a slice)."""
    if not person_ids:
        return {}
    users, people = AppleUser._meta.db_table, Person._meta.db_table
    invite_code = AppleUser._meta.get_field("invite_code")
    with bulk_sql._binary_cursor() as cursor:
        rows = bulk_sql.probes_execute(
            cursor,
            "SELECT u.id, u.person_id, u.token_id, u.client_user_id, u.status, u.email, "  # noqa: S608
            "u.invite_code, u.invitation_sent_at, coalesce(p.managed_apple_id, ''), u.event_id, "
            "u.invitation_mail FROM unnest(%b::bigint[]) AS t(person_id) "
            # One probe of the partial unique index per person (see bulk_sql's _PROBE): with
            # = ANY the planner read all the token's users, 190 ms a slice. The status is a
            # literal so the index's condition matches; LIMIT 1 changes nothing (unique).
            f"CROSS JOIN LATERAL (SELECT * FROM {users} WHERE token_id = %s "
            f"AND person_id = t.person_id AND status <> '{Status.RETIRED}' LIMIT 1) AS u "
            f"JOIN {people} AS p ON p.id = u.person_id",
            [bulk_sql.int8_array(person_ids), token.pk],
        )
        found: dict[int, UserRow] = {}
        for values in rows:
            code = invite_code.from_db_value(values[6], None, connection)  # stored encrypted
            row = UserRow(*values[:6], code, *values[7:])
            found[row.person_id] = row
        return found


def apple_users_prepare(
    *, token: VppToken, person_ids: Sequence[int], prefix: str, request_size: int | None = None
) -> dict[int, UserRow]:
    """The live Apple user of each person for this token, making pending ones as needed.

    A new clientUserId is ours (prefix) and random, so it is never reused for another person.
    With `request_size`, new users are made in blocks of that many, each block carrying the
    key of the one registration request that will create it (its event_id).
    """
    existing = _live_users(token, person_ids)
    missing = [pk for pk in person_ids if pk not in existing]
    for part in _chunks(missing):
        made = _apple_users_make(token, part, prefix, _keys(len(part), request_size))
        existing.update(made)
        # A concurrent run made some first (the insert skipped them): keep theirs.
        existing.update(_live_users(token, [pk for pk in part if pk not in made]))
    return existing


def _keys(count: int, size: int | None) -> list[str]:
    """A request key for each of `count` new users, one key per block of `size` ('': none)."""
    if not size:
        return [""] * count
    keys = [request_key() for _ in range(0, count, size)]
    return [keys[index // size] for index in range(count)]


def apple_users_keyed(
    *, token: VppToken, users: Sequence[UserRow], request_size: int
) -> list[UserRow]:
    """The users, each with a registration request key: those with none (made before keys,
    or to register again) get one per block of `request_size`, written before they are sent."""
    bare = [u for u in users if not u.event_id]
    keys = dict(zip((u.pk for u in bare), _keys(len(bare), request_size), strict=True))
    for key in set(keys.values()):
        AppleUser.objects.filter(
            token=token, pk__in=[pk for pk, k in keys.items() if k == key]
        ).update(event_id=key)
    return [u._replace(event_id=keys[u.pk]) if u.pk in keys else u for u in users]


def _apple_users_make(
    token: VppToken, person_ids: Sequence[int], prefix: str, keys: Sequence[str]
) -> dict[int, UserRow]:
    """Insert pending Apple users for the people (the person's key from `keys`, same order);
    those another run made first are skipped."""
    if connection.vendor != "postgresql":
        key_of = dict(zip(person_ids, keys, strict=True))
        people = Person.objects.filter(pk__in=person_ids).values_list(
            "pk", "email", "managed_apple_id"
        )
        AppleUser.objects.bulk_create(
            [
                AppleUser(
                    token=token,
                    person_id=pk,
                    client_user_id=f"{prefix}{uuid.uuid4().hex}",
                    email=email,
                    managed=bool(managed),
                    status=Status.PENDING,
                    event_id=key_of[pk],
                )
                for pk, email, managed in people
            ],
            batch_size=2000,
            ignore_conflicts=True,
        )
        return {}
    # PostgreSQL: one INSERT … SELECT that returns the rows it made (no model instances).
    users, people = AppleUser._meta.db_table, Person._meta.db_table
    client_ids = [f"{prefix}{uuid.uuid4().hex}" for _ in person_ids]
    with bulk_sql._binary_cursor() as cursor:
        rows = bulk_sql.probes_execute(
            cursor,
            # The people by primary-key probes (see bulk_sql's _PROBE; joined plainly, both
            # reads of them were sequential scans of every person), read once for both uses.
            "WITH source AS (SELECT p.id, t.c, t.k, p.email, "  # noqa: S608
            "coalesce(p.managed_apple_id, '') AS m "
            "FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS t(person_id, c, k) "
            "CROSS JOIN LATERAL "
            f"(SELECT id, email, managed_apple_id FROM {people} WHERE id = t.person_id LIMIT 1) "
            "AS p), "
            f"made AS (INSERT INTO {users} (token_id, person_id, client_user_id, email, "
            "status, invite_code, id_hash, managed, error, event_id, updated_at) "
            "SELECT %s, id, c, email, %s, '', '', m <> '', '', k, now() FROM source "
            "ON CONFLICT DO NOTHING RETURNING id, person_id, client_user_id, email, event_id) "
            "SELECT made.id, made.person_id, made.client_user_id, made.email, source.m, "
            "made.event_id FROM made JOIN source ON source.id = made.person_id",
            [bulk_sql.int8_array(person_ids), client_ids, list(keys), token.pk, Status.PENDING],
        )
        return {
            person_id: UserRow(
                pk, person_id, token.pk, cuid, Status.PENDING, email, "", None, managed, key, ""
            )
            for pk, person_id, cuid, email, managed, key in rows
        }


def apple_users_registration_failed(
    *, token: VppToken, client_user_ids: Sequence[str], reason: str
) -> None:
    """Apple refused to register these users; the reason is kept for the admin."""
    for part in _chunks(list(client_user_ids)):
        AppleUser.objects.filter(
            token=token, client_user_id__in=part, status=Status.PENDING
        ).update(status=Status.FAILED, error=reason[:500])


def apple_user_needs_registration(*, token: VppToken, client_user_ids: Sequence[str]) -> None:
    """Apple no longer knows these users (9609): register them again, same clientUserId."""
    AppleUser.objects.filter(token=token, client_user_id__in=client_user_ids).update(
        status=Status.PENDING, event_id=""
    )


def licenses_set_state(
    *,
    token: VppToken,
    ebook: EBook,
    users: Sequence[UserRow],
    state: str,
    at: datetime,
    error_number: int | None = None,
    error_message: str = "",
) -> None:
    """Record the state of the book's license for each user (created when absent).

    A license Apple already gave (assigned) is never moved back to a lesser state.
    """
    for part in _chunks(list(users)):
        bulk_sql.licenses_state_upsert(
            token_id=token.pk,
            ebook_id=ebook.pk,
            rows=[(u.pk, u.person_id) for u in part],
            state=state,
            error_number=error_number,
            error_message=error_message[:500],
            at=at,
        )


def licenses_requested(
    *,
    token: VppToken,
    ebooks: Sequence[EBook],
    users: Sequence[UserRow],
    event_id: str,
    at: datetime,
) -> None:
    """The books' licenses for the users, pending and marked with `event_id`: the key of the
    one request that asks for them (or a run's held marker), written before it is sent."""
    for part in _chunks(list(users)):
        bulk_sql.licenses_requested_upsert(
            token_id=token.pk,
            ebook_ids=[e.pk for e in ebooks],
            rows=[(u.pk, u.person_id) for u in part],
            event_id=event_id,
            at=at,
        )


def licenses_stranded_resolve(
    *, license_ids: Sequence[int], held_ids: set[int], at: datetime
) -> None:
    """Pending licenses whose request may never have left: held at Apple → assigned, else
    asked again."""
    held = [pk for pk in license_ids if pk in held_ids]
    lost = [pk for pk in license_ids if pk not in held_ids]
    pending = License.objects.filter(state=State.PENDING)
    for part in _chunks(held):
        pending.filter(pk__in=part).update(state=State.ASSIGNED, assigned_at=at, updated_at=at)
    for part in _chunks(lost):
        # Not held by Apple: the request never arrived. The next plan asks for it again.
        pending.filter(pk__in=part).delete()


def licenses_event_outcome(
    *,
    token: VppToken,
    event_id: str,
    failed: dict[tuple[int | None, str], tuple[str, int | None, str]],
    at: datetime,
) -> tuple[int, list[tuple[int, int]]]:
    """An association event ended: the listed (ebook or None for all, clientUserId) failed with
    (state, number, why); the event's other pending licenses are held. Idempotent. `event_id`
    is what the event's licenses carry (AppleEvent.license_ref: our key, or Apple's id).

    Returns how many licenses it assigned and their (ebook_id, person_id), read while still
    pending (the partial index by event finds them; once assigned only a scan would).
    """
    pending = License.objects.filter(token=token, event_id=event_id, state=State.PENDING)
    by_outcome: dict[tuple[int | None, str, int | None, str], list[str]] = {}
    for (ebook_id, client_user_id), (state, number, reason) in failed.items():
        by_outcome.setdefault((ebook_id, state, number, reason), []).append(client_user_id)
    for (ebook_id, state, number, reason), client_user_ids in by_outcome.items():
        rows = pending.filter(apple_user__client_user_id__in=client_user_ids)
        if ebook_id is not None:
            rows = rows.filter(ebook_id=ebook_id)
        rows.update(state=state, error_number=number, error_message=reason[:500], updated_at=at)
    held = list(pending.values_list("ebook_id", "person_id"))
    assigned = pending.update(
        state=State.ASSIGNED, assigned_at=at, error_number=None, error_message="", updated_at=at
    )
    return assigned, held


def licenses_assigned_record(
    *, token: VppToken, ebook: EBook, client_user_ids: Sequence[str], at: datetime
) -> int:
    """Apple says these users hold the book (a notification): pending licenses become held."""
    return License.objects.filter(
        token=token,
        ebook=ebook,
        state__in=[State.PENDING, State.NOT_ENOUGH, State.FAILED],
        apple_user__client_user_id__in=list(client_user_ids),
    ).update(state=State.ASSIGNED, assigned_at=at, error_number=None, error_message="")


def offers_record(*, ebook: EBook, person_intents: dict[int, str]) -> int:
    """The book as offered to each person, with the strongest intent; only changes are written.

    One set-based upsert (no model instance per person): a book offered to 100,000 people is
    planned again after every change, and almost none of its offers change.
    """
    if not person_intents:
        return 0
    table = BookOffer._meta.db_table
    now = timezone.now()
    upsert = (
        f"ON CONFLICT (person_id, ebook_id) DO UPDATE SET intent = excluded.intent "
        f"WHERE {table}.intent <> excluded.intent"
    )
    if connection.vendor == "postgresql":
        # One statement per intent (one or two): the people go as a bigint array alone.
        people_of: dict[str, list[int]] = {}
        for person_id, intent in person_intents.items():
            people_of.setdefault(intent, []).append(person_id)
        written = 0
        with bulk_sql._binary_cursor() as cursor:
            for intent, people in people_of.items():
                cursor.execute(
                    f"INSERT INTO {table} (person_id, ebook_id, intent, offered_at) "  # noqa: S608
                    "SELECT p, %s, %s, %s FROM unnest(%b::bigint[]) AS t(p) "
                    # Offers that would not change are left out before the upsert: ON CONFLICT
                    # locks each row it meets, even one its WHERE then skips (a WAL record and
                    # a dirtied page per offer, 0.8 s for a book's 100,000 unchanged offers).
                    f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS o WHERE o.person_id = t.p "
                    f"AND o.ebook_id = %s AND o.intent = %s) {upsert}",
                    [ebook.pk, intent, now, bulk_sql.int8_array(people), ebook.pk, intent],
                )
                written += cursor.rowcount
        return written
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (person_id, ebook_id, intent, offered_at) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s) {upsert}",
            [(pk, ebook.pk, intent, now) for pk, intent in person_intents.items()],
        )
        return cursor.rowcount


def install_requests_record(*, ebook: EBook, person_ids: Iterable[int]) -> int:
    """A pending install on each device of each person (a clear status without the Books app)."""
    made = 0
    person_ids = list(person_ids)
    if not person_ids:
        return 0
    for part in _chunks(person_ids):
        devices = Device.objects.filter(owner_id__in=part).values_list(
            "pk", "owner_id", "has_books_app"
        )
        requests = [
            InstallRequest(
                device_id=pk,
                ebook=ebook,
                person_id=owner,
                state=InstallRequest.State.PENDING if books else InstallRequest.State.NO_BOOKS_APP,
            )
            for pk, owner, books in devices
        ]
        InstallRequest.objects.bulk_create(requests, batch_size=2000, ignore_conflicts=True)
        made += len(requests)
    return made


def install_requests_for_licenses(*, rows: Iterable[tuple[int, int]]) -> int:
    """Installs for these (ebook_id, person_id) licenses where the book is Required for the
    person (most books are only available: usually one indexed read per book, no write)."""
    by_book: dict[int, list[int]] = {}
    for ebook_id, person_id in rows:
        by_book.setdefault(ebook_id, []).append(person_id)
    made = 0
    for ebook_id, people in by_book.items():
        required = _required_of(ebook_id, people)
        made += install_requests_record(ebook=EBook(pk=ebook_id), person_ids=required)
    return made


def _required_of(ebook_id: int, person_ids: Sequence[int]) -> list[int]:
    """The people for whom the book is Required."""
    if connection.vendor == "postgresql":  # one binary array, not thousands of literals
        with bulk_sql._binary_cursor() as cursor:
            rows = bulk_sql.probes_execute(
                cursor,
                # A probe of the unique (person, ebook) index per person (see bulk_sql's
                # _PROBE): with = ANY the planner read all the book's offers, 30 ms an event.
                "SELECT o.person_id FROM unnest(%b::bigint[]) AS t(p) CROSS JOIN LATERAL "  # noqa: S608
                f"(SELECT person_id, intent FROM {BookOffer._meta.db_table} "
                "WHERE person_id = t.p AND ebook_id = %s LIMIT 1) AS o WHERE o.intent = 'required'",
                [bulk_sql.int8_array(person_ids), ebook_id],
            )
            return [person_id for (person_id,) in rows]
    return [
        person_id
        for part in _chunks(person_ids)
        for person_id in BookOffer.objects.filter(
            ebook_id=ebook_id, intent="required", person_id__in=part
        ).values_list("person_id", flat=True)
    ]


def install_requests_for_event(*, token: VppToken, event_id: str) -> int:
    """Installs for the licenses an event just gave, where the book is Required for the person
    (`event_id`: what its licenses carry, AppleEvent.license_ref)."""
    required = BookOffer.objects.filter(
        ebook_id=OuterRef("ebook_id"), person_id=OuterRef("person_id"), intent="required"
    )
    rows = (
        License.objects.filter(token=token, event_id=event_id, state=State.ASSIGNED)
        .filter(Exists(required))
        .values_list("ebook_id", "person_id")
    )
    by_book: dict[int, list[int]] = {}
    for ebook_id, person_id in rows:
        by_book.setdefault(ebook_id, []).append(person_id)
    return sum(
        install_requests_record(ebook=EBook(pk=ebook_id), person_ids=people)
        for ebook_id, people in by_book.items()
    )
