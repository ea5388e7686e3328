"""Writes of what Apple reports about our users and the licenses they hold (used by the sync).

Only rows whose clientUserId carries this installation's prefix are ours (rule 4); the others
were registered by another product and are counted, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apple.types import Assignment, User
from assignments.bulk_sql import (
    LicenseRows,
    apple_user_ids_resolve,
    apple_users_upsert_rows,
    licenses_assigned_upsert,
    licenses_copy_payload,
)
from assignments.models import AppleUser
from tokens.crypto import encrypter
from tokens.models import VppToken

APPLE_STATUS = {
    "Registered": AppleUser.Status.REGISTERED,
    "Associated": AppleUser.Status.ASSOCIATED,
    "Retired": AppleUser.Status.RETIRED,
    "Deleted": AppleUser.Status.RETIRED,
}
# When Apple lists a clientUserId twice (old retired rows), the live entry wins.
_STATUS_RANK = {AppleUser.Status.ASSOCIATED: 2, AppleUser.Status.REGISTERED: 1}


@dataclass
class PageCounts:
    ours: int = 0
    foreign: int = 0
    skipped: int = 0  # not a book, or a device assignment: out of this product's scope
    orphans: int | None = None  # licenses written that point at nothing (None: not checked)
    fresh_conflict: bool = False  # plain inserts met an existing row (see fresh)


def apple_users_upsert(
    *,
    token: VppToken,
    users: Iterable[User],
    prefix: str,
    seen_at: datetime,
    fresh: bool = False,
) -> PageCounts:
    """Store the status Apple gives for our users; count the others.

    fresh: the token had no Apple users when the run began (see apple_users_upsert_rows);
    counts.fresh_conflict says the plain inserts met an existing row.
    """
    return apple_users_write(
        token=token,
        prepared=apple_users_prepare([_user_entry(user) for user in users], prefix=prefix),
        seen_at=seen_at,
        fresh=fresh,
    )


def _user_entry(user: User) -> dict[str, Any]:
    """A typed user back as the JSON object Apple sent (what apple_users_prepare reads)."""
    return {
        "clientUserId": user.client_user_id,
        "status": user.status,
        "email": user.email,
        "inviteCode": user.invite_code,
        "idHash": user.id_hash,
    }


@dataclass
class PreparedUsers:
    """A batch of Apple users made ready to write without touching the database."""

    counts: PageCounts
    rows: list[tuple[str, str, str, str, str]]  # apple_users_upsert_rows's rows


def apple_users_prepare(entries: Iterable[Mapping[str, Any]], *, prefix: str) -> PreparedUsers:
    """The pure-Python half of apple_users_upsert: filter, rank, encrypt.

    entries are Apple's JSON objects (the sync reads its listing as JSON, see _json_items);
    a value that is not the string Apple documents reads as blank. The sync runs this on its
    reading thread, so it overlaps the writer's wait on the database.
    """
    counts = PageCounts()
    encrypt = encrypter()  # raw SQL writes: encrypted here, as the model field does
    ours: dict[str, tuple[str, str, str, str, str]] = {}
    registered, associated = AppleUser.Status.REGISTERED, AppleUser.Status.ASSOCIATED
    status_of, rank_of = APPLE_STATUS.get, _STATUS_RANK.get
    for entry in entries:
        get = entry.get
        client_user_id = get("clientUserId")
        if not _ours(client_user_id, prefix):
            counts.foreign += 1
            continue
        counts.ours += 1
        status = get("status")
        status = status_of(status, registered) if type(status) is str else registered
        current = ours.get(client_user_id)
        if current is not None and rank_of(current[2], 0) >= rank_of(status, 0):
            continue
        invite, email, id_hash = get("inviteCode"), get("email"), get("idHash")
        ours[client_user_id] = (
            client_user_id,
            _text(email)[:254],
            status,
            encrypt(invite) if invite and type(invite) is str and status != associated else "",
            _text(id_hash)[:200],
        )
    return PreparedUsers(counts, list(ours.values()))


_CLIENT_USER_ID_LENGTH = AppleUser._meta.get_field("client_user_id").max_length


def _ours(client_user_id: Any, prefix: str) -> bool:
    """A clientUserId this installation made: ours carry its prefix and hex digits, never a
    NUL nor more than the column holds (PostgreSQL would refuse such an entry, and with it
    the whole batch)."""
    return (
        type(client_user_id) is str
        and client_user_id.startswith(prefix)
        and "\x00" not in client_user_id
        and len(client_user_id) <= _CLIENT_USER_ID_LENGTH
    )


def _text(value: Any) -> str:
    """Apple's text as stored: blank unless a string, without NUL (PostgreSQL refuses it)."""
    if type(value) is not str:
        return ""
    return value.replace("\x00", "") if "\x00" in value else value


def apple_users_write(
    *, token: VppToken, prepared: PreparedUsers, seen_at: datetime, fresh: bool = False
) -> PageCounts:
    """The database half of apple_users_upsert."""
    counts = prepared.counts
    counts.fresh_conflict = apple_users_upsert_rows(
        token_id=token.pk,
        rows=prepared.rows,
        seen_at=seen_at,
        fresh=fresh,
    )
    return counts


def apple_users_retire_unseen(*, token: VppToken, seen_since: datetime) -> int:
    """After a complete listing of active users, ours that Apple no longer lists are retired."""
    return AppleUser.objects.filter(
        token=token,
        status__in=[AppleUser.Status.REGISTERED, AppleUser.Status.ASSOCIATED],
        last_seen_at__lt=seen_since,
    ).update(status=AppleUser.Status.RETIRED)


@dataclass
class PreparedLicenses:
    """A batch of licenses made ready to write without touching the database."""

    counts: PageCounts
    rows: LicenseRows
    unknown: list[tuple[int, str]]  # (ebook id, clientUserId) of users the map lacked
    copy_payload: bytes | None  # rows as binary COPY data (PostgreSQL)


def licenses_prepare_from_apple(
    entries: Iterable[Mapping[str, Any]],
    *,
    ebook_ids: dict[tuple[str, str], int],
    user_ids: dict[str, tuple[int, int | None]],
    prefix: str,
    copy_payload: bool = False,
) -> PreparedLicenses:
    """Filter and map a batch of Apple's assignment entries (JSON objects) before writing.

    The pure-Python half of the write. Reads user_ids only: the sync runs this on its reading
    thread while the writer adds to the map; a user it has not seen yet lands in unknown and
    the writer resolves it.
    """
    counts = PageCounts()
    rows = LicenseRows()
    add_ebook, add_holder = rows.ebook_ids.append, rows.holders.append
    unknown: list[tuple[int, str]] = []
    ebook_of, user_of = ebook_ids.get, user_ids.get
    seen = skipped = foreign = 0
    # The per-row loop of a million-row sync: local names, no call but dict look-ups.
    for entry in entries:
        seen += 1
        get = entry.get
        client_user_id = get("clientUserId")
        key = (get("adamId"), get("pricingParam") or "STDQ")
        try:
            ebook_id = ebook_of(key)
            ours = client_user_id.startswith(prefix) if ebook_id and client_user_id else None
        except (TypeError, AttributeError):  # a value of the wrong type: read it as the client
            ebook_id, client_user_id = _assignment_fields(entry, ebook_of)
            ours = client_user_id.startswith(prefix) if ebook_id and client_user_id else None
        if ours is None:
            skipped += 1  # an app, or a device-based license: not ours to show
        elif not ours:
            foreign += 1
        elif (user := user_of(client_user_id)) is None:
            if _ours(client_user_id, prefix):
                unknown.append((ebook_id, client_user_id))
            else:  # not an id we made, though it starts like one
                foreign += 1
        else:
            add_ebook(ebook_id)
            add_holder(user)
    counts.skipped, counts.foreign, counts.ours = skipped, foreign, seen - skipped - foreign
    payload = licenses_copy_payload(rows) if copy_payload and rows else None
    return PreparedLicenses(counts, rows, unknown, payload)


def _assignment_fields(entry: Mapping[str, Any], ebook_of) -> tuple[int | None, str | None]:
    """(ebook id, clientUserId) of an entry whose values are not the strings Apple documents,
    read the way the typed client reads them (Assignment.from_json)."""
    assignment = Assignment.from_json(entry)
    client_user_id = assignment.client_user_id
    return (
        ebook_of(assignment.key),
        client_user_id if isinstance(client_user_id, str) else None,
    )


def licenses_write(
    *,
    token: VppToken,
    prepared: PreparedLicenses,
    user_ids: dict[str, tuple[int, int | None]],
    seen_at: datetime,
    check: bool = False,
    fresh: bool = False,
) -> PageCounts:
    """The database half of licenses_upsert_from_apple: resolve unknown users, then write."""
    counts, rows = prepared.counts, prepared.rows
    extra = LicenseRows()  # rows of the users resolved here
    if prepared.unknown:
        user_ids.update(
            apple_user_ids_resolve(
                token_id=token.pk,
                client_user_ids=[c for _, c in prepared.unknown],
                at=seen_at,
            )
        )
        for ebook_id, client_user_id in prepared.unknown:
            extra.add(ebook_id, user_ids[client_user_id])
    if not rows and not extra:
        return counts
    written = licenses_assigned_upsert(
        token_id=token.pk,
        rows=rows,
        extra_rows=extra,
        at=seen_at,
        check=check,
        fresh=fresh,
        copy_payload=prepared.copy_payload,
    )
    counts.orphans, counts.fresh_conflict = written.orphans, written.fresh_conflict
    return counts
