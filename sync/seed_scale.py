"""The large district of DESIGN.md, built straight into the database for benchmarks and demos.

5 tokens, 2,000 books, 300,000 people in 5,000 groups (one of 100,000), 700,000 memberships,
400,000 devices, 300,000 Apple users and 1,000,000 licenses at scale 1. Rows are generated in
chunks and written with COPY on PostgreSQL (executemany on SQLite), with ids chosen here so
related rows need no read back; fields the generator does not name take their model default,
so columns other apps add later are filled too.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from assignments.models import (
    AppleUser,
    Device,
    GroupAssignment,
    License,
    Membership,
    Person,
    UserGroup,
)
from ebooks.models import EBook
from sync.models import SyncRun
from tokens.crypto import encrypt
from tokens.models import VppToken

logger = logging.getLogger(__name__)

CHUNK = 20_000
TOKENS = 5
BIG_GROUP = 100_000  # members of the district's largest group ("All pupils")
DEVICE_MODELS = (
    "iPad (10th generation)",
    "iPad (9th generation)",
    "iPad Air (5th generation)",
    "iPad mini (6th generation)",
    "iPad Pro 11-inch (4th generation)",
    "iPhone 13",
    "iPhone 14",
    "iPhone 15",
    "iPhone SE (3rd generation)",
    "MacBook Air (M2)",
)
WORDS = [
    "river",
    "stone",
    "garden",
    "winter",
    "harbour",
    "lantern",
    "meadow",
    "orchard",
    "silver",
    "compass",
    "thunder",
    "willow",
    "falcon",
    "ember",
    "island",
    "quiet",
    "north",
    "atlas",
    "canyon",
    "maple",
]


@dataclass(frozen=True)
class Sizes:
    books: int
    people: int
    groups: int
    memberships: int
    devices: int
    licenses: int
    big_group: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        def n(full: int, minimum: int) -> int:
            return max(minimum, int(full * scale))

        people = n(300_000, 50)
        return cls(
            books=n(2_000, TOKENS * 4),
            people=people,
            groups=n(5_000, 10),
            memberships=max(n(700_000, 100), min(people, n(BIG_GROUP, 10)) + 2 * people // 3),
            devices=n(400_000, 50),
            licenses=min(n(1_000_000, 100), people * 4),
            big_group=min(people, n(BIG_GROUP, 10)),
        )


def district_seed(*, scale: float = 1.0, progress: Callable[[str], None] | None = None) -> Sizes:
    """Add the district (scaled) to the database; returns the sizes written."""
    say = progress or (lambda message: None)
    sizes = Sizes.at(scale)
    run = secrets.token_hex(3)  # keeps a second seeding's unique values apart from the first
    now = timezone.now()
    tokens = _tokens(run=run, now=now)
    say(f"{len(tokens)} tokens")
    books = _ebooks(tokens=tokens, count=sizes.books, run=run, now=now)
    say(f"{sizes.books} books")
    people = _people(count=sizes.people, run=run, now=now)
    say(f"{sizes.people} people")
    groups = _groups(count=sizes.groups, run=run, now=now)
    say(f"{sizes.groups} groups")
    _memberships(people=people, groups=groups, sizes=sizes, now=now)
    say(f"{sizes.memberships} memberships")
    _devices(people=people, count=sizes.devices, run=run)
    say(f"{sizes.devices} devices")
    users = _apple_users(people=people, tokens=tokens, run=run, now=now)
    say(f"{len(people)} Apple users")
    _licenses(users=users, books=books, tokens=tokens, count=sizes.licenses, now=now)
    say(f"{sizes.licenses} licenses")
    _assignments(books=books, groups=groups, tokens=tokens, now=now)
    _sync_runs(tokens=tokens, now=now)
    _analyze()
    history = _history_backfill()
    if history:
        say(history)
    return sizes


# --- the rows --------------------------------------------------------------------------------


def _tokens(*, run: str, now) -> list[int]:
    ids = _next_ids(VppToken, TOKENS)
    _write(
        VppToken,
        (
            {
                "id": pk,
                "name": f"District token {n + 1} ({run})",
                "apple_id": f"purchasing{n + 1}@district.example",
                "account_type": VppToken.AccountType.EDUCATION,
                "org_name": "Large District",
                "location_name": f"Schools {n + 1}",
                "location_uid": f"seed-{run}-{n}",
                "country_code": "US",
                "store_platform": "volumestore",
                "expires_at": now + timedelta(days=300 - 40 * n),
                "secret_ciphertext": encrypt(f"seeded-token-{run}-{n}"),
                "fingerprint": hashlib.sha256(f"seed-{run}-{n}".encode()).hexdigest(),
                "state": VppToken.State.VALID,
                "last_sync_at": now,
                "last_sync_ok": True,
                "created_at": now,
            }
            for n, pk in enumerate(ids)
        ),
    )
    return ids


def _ebooks(*, tokens: list[int], count: int, run: str, now) -> dict[int, list[int]]:
    """Books per token id."""
    ids = _next_ids(EBook, count)
    per_token: dict[int, list[int]] = {t: [] for t in tokens}

    def rows() -> Iterator[dict]:
        for n, pk in enumerate(ids):
            token = tokens[n % len(tokens)]
            per_token[token].append(pk)
            title = " ".join(WORDS[(n * k + k) % len(WORDS)] for k in (3, 7, 11)).title()
            yield {
                "id": pk,
                "token_id": token,
                "adam_id": str(1_500_000_000 + n),
                "pricing_param": "STDQ",
                "title": f"{title} {n}",
                "author": f"{WORDS[n % 20].title()} {WORDS[(n // 20) % 20].title()}",
                "genres": "Education",
                "total_count": 1_000 + n % 500,
                "assigned_count": 500,
                "available_count": 500 + n % 500,
                "unlimited": n % 50 == 0,
                "metadata_fetched_at": now,
                "last_synced_at": now,
                "counts_as_of": now,
                "first_seen_at": now,
            }

    _write(EBook, rows())
    return per_token


def _people(*, count: int, run: str, now) -> list[int]:
    ids = _next_ids(Person, count)
    _write(
        Person,
        (
            {
                "id": pk,
                "email": f"p{n:06d}.{run}@district.example",
                "display_name": f"{WORDS[n % 20].title()} {WORDS[(n // 20) % 20].title()} {n}",
                "external_id": f"{run}-{n}",
                "managed_apple_id": f"p{n:06d}.{run}@appleid.district.example" if n % 2 else "",
                "active": n % 97 != 0,
                "created_at": now,
                "updated_at": now,
            }
            for n, pk in enumerate(ids)
        ),
    )
    return ids


def _groups(*, count: int, run: str, now) -> list[int]:
    ids = _next_ids(UserGroup, count)
    _write(
        UserGroup,
        (
            {
                "id": pk,
                "name": f"All pupils ({run})"
                if n == 0
                else f"Class {n:04d} {WORDS[n % len(WORDS)]} ({run})",
                "external_id": f"{run}-g{n}",
                "created_at": now,
            }
            for n, pk in enumerate(ids)
        ),
    )
    return ids


def _memberships(*, people: list[int], groups: list[int], sizes: Sizes, now) -> None:
    """The big group first, then the rest spread over the other groups, two per person."""
    others = groups[1:]

    def rows() -> Iterator[dict]:
        written = 0
        for person in people[: sizes.big_group]:
            yield {"group_id": groups[0], "person_id": person, "added_at": now}
            written += 1
        for n, person in enumerate(people):
            for k in (0, 1):
                if written >= sizes.memberships:
                    return
                slot = (n * (7 if k else 1) + k * (len(others) // 2 + 1)) % len(others)
                yield {"group_id": others[slot], "person_id": person, "added_at": now}
                written += 1

    _write(Membership, _unique(rows(), ("group_id", "person_id")))


def _devices(*, people: list[int], count: int, run: str) -> None:
    _write(
        Device,
        (
            {
                "serial_number": f"S{run}{n:08d}".upper(),
                "name": f"Device {n}",
                "model": DEVICE_MODELS[n % len(DEVICE_MODELS)],
                "os_version": f"17.{n % 6}",
                "owner_id": people[n % len(people)] if n % 10 else None,
                "has_books_app": n % 40 != 0,
            }
            for n in range(count)
        ),
    )


def _apple_users(*, people: list[int], tokens: list[int], run: str, now) -> list[tuple]:
    """One Apple user per person, on one token; returns (id, token id, person id)."""
    ids = _next_ids(AppleUser, len(people))
    users = [(pk, tokens[n % len(tokens)], people[n]) for n, pk in enumerate(ids)]
    statuses = (AppleUser.Status.ASSOCIATED,) * 8 + (
        AppleUser.Status.REGISTERED,
        AppleUser.Status.RETIRED,
    )
    _write(
        AppleUser,
        (
            {
                "id": pk,
                "token_id": token,
                "person_id": person if n % 10 != 9 else None,  # retired ones let go
                "client_user_id": f"sk-seed-{run}-{n:07d}",
                "email": f"p{n:06d}.{run}@district.example",
                "status": statuses[n % 10],
                "managed": bool(n % 2),
                "last_seen_at": now,
                "updated_at": now,
            }
            for n, (pk, token, person) in enumerate(users)
        ),
    )
    return users


def _licenses(*, users: list[tuple], books: dict[int, list[int]], tokens, count: int, now):
    states = (License.State.ASSIGNED,) * 96 + (
        License.State.PENDING,
        License.State.WAITING_INVITATION,
        License.State.NOT_ENOUGH,
        License.State.FAILED,
    )

    def rows() -> Iterator[dict]:
        written = 0
        for k in range(4):  # a first book for everyone, then a second... until count
            for n, (user, token, person) in enumerate(users):
                if written >= count:
                    return
                shelf = books[token]
                state = states[(n + k) % len(states)]
                yield {
                    "token_id": token,
                    "ebook_id": shelf[(n // len(tokens) * 7 + k * 13) % len(shelf)],
                    "apple_user_id": user,
                    "person_id": person,
                    "state": state,
                    "error_number": 9610 if state == License.State.FAILED else None,
                    "error_message": "License not found" if state == License.State.FAILED else "",
                    "kept": (n + k) % 50 == 0,
                    "assigned_at": now if state == License.State.ASSIGNED else None,
                    "updated_at": now,
                }
                written += 1

    _write(License, _unique(rows(), ("ebook_id", "apple_user_id")))


def _assignments(*, books: dict[int, list[int]], groups: list[int], tokens, now) -> None:
    """Twenty-five books for the big group, one for every fifth group."""
    first = books[tokens[0]]
    rows = [
        {
            "ebook_id": book,
            "group_id": groups[0],
            "intent": "required" if n % 5 == 0 else "available",
            "created_at": now,
        }
        for n, book in enumerate(first[:25])
    ]
    for n, group in enumerate(groups[1::5]):
        shelf = books[tokens[n % len(tokens)]]
        rows.append(
            {
                "ebook_id": shelf[(n + 2) % len(shelf)],
                "group_id": group,
                "intent": "available" if n % 3 else "required",
                "created_at": now,
            }
        )
    _write(GroupAssignment, _unique(rows, ("ebook_id", "group_id")))


def _sync_runs(*, tokens: list[int], now) -> None:
    _write(
        SyncRun,
        (
            {
                "token_id": token,
                "trigger": SyncRun.Trigger.SCHEDULED,
                "state": SyncRun.State.SUCCEEDED,
                "phase": SyncRun.Phase.DONE,
                "queued_at": now - timedelta(hours=12 * k + 1),
                "started_at": now - timedelta(hours=12 * k + 1),
                "finished_at": now - timedelta(hours=12 * k, minutes=50),
                "heartbeat_at": now - timedelta(hours=12 * k, minutes=50),
            }
            for token in tokens
            for k in range(20)
        ),
    )


def _history_backfill() -> str:
    """A year of daily dashboard history, when the reports app offers it."""
    try:
        reports = importlib.import_module("reports.services")
    except ImportError:
        return ""
    backfill = getattr(reports, "snapshots_backfill", None)
    if backfill is None:
        return ""
    accepted = inspect.signature(backfill).parameters
    options = {"days": 365} if "days" in accepted else {}
    backfill(**options)
    return "a year of daily history"


# --- writing ---------------------------------------------------------------------------------


def _unique(rows: Iterable[dict], key: tuple[str, str]) -> Iterator[dict]:
    """Rows whose (id, id) key was not seen before; the key packed in one int keeps it small."""
    seen: set[int] = set()
    first, second = key
    for row in rows:
        value = row[first] << 32 | row[second]
        if value not in seen:
            seen.add(value)
            yield row


def _next_ids(model: type[models.Model], count: int) -> list[int]:
    start = (model.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1
    return list(range(start, start + count))


def _write(model: type[models.Model], rows: Iterable[dict]) -> int:
    """Insert rows (dicts by column attname) in chunks; missing columns take their default."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    rows_all = _chain_first(first, rows)
    # Ids chosen by the generator are written; otherwise the database numbers the rows.
    fields = [f for f in model._meta.concrete_fields if "id" in first or not f.primary_key]
    defaults = {f.attname: _default(f) for f in fields}
    columns = [f.column for f in fields]
    names = [f.attname for f in fields]
    table = model._meta.db_table
    written = 0
    while chunk := list(islice(rows_all, CHUNK)):
        values = [tuple(row.get(n, defaults[n]) for n in names) for row in chunk]
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
                raw = cursor.cursor  # psycopg's own cursor: COPY
                with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for value in values:
                        copy.write_row(value)
            else:
                quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({quoted}) VALUES ({marks})",  # noqa: S608 - our tables
                    values,
                )
        written += len(values)
    _sequence_reset(model)
    return written


def _chain_first(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def _default(field: models.Field):
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    if field.has_default():
        value = field.get_default()
        return field.get_db_prep_save(value, connection)
    if field.null:
        return None
    if isinstance(field, models.CharField | models.TextField):
        return ""
    if isinstance(field, models.BooleanField):
        return False
    return None


def _sequence_reset(model: type[models.Model]) -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), [model])
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def _analyze() -> None:
    """Fresh planner statistics and visibility maps: the pages are timed right after seeding."""
    with connection.cursor() as cursor:
        # VACUUM also marks the pages all-visible, so counts are index-only as in a settled
        # database (autovacuum would get there later).
        vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
        cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
