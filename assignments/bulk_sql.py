"""Set-based upserts for the sync's two hot tables (a page is 1,000 rows, a token 1,000,000).

Django's bulk_create builds a model instance and compiles every value for each row, which costs
more than the database work itself at this volume. These statements send a page as arrays
(PostgreSQL, one round trip, binary) or as executemany (SQLite), and skip rows that would not
change, so a second sync of the same data writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from django.db import connection

from assignments.models import AppleUser, License

LICENSE_TABLE = License._meta.db_table
APPLE_USER_TABLE = AppleUser._meta.db_table


def licenses_assigned_upsert(
    *, token_id: int, rows: Sequence[tuple[int, str]], at: datetime
) -> None:
    """(ebook_id, client_user_id) rows become licenses in state 'assigned'.

    Users Apple lists with a license but we have no row for get one first (status retired: the
    users pass, which lists active users only, ran before and did not see them).
    """
    if not rows:
        return
    assigned, retired = License.State.ASSIGNED, AppleUser.Status.RETIRED
    user_columns = (
        "token_id, client_user_id, email, status, invite_code, id_hash, managed, error, "
        "event_id, last_seen_at, updated_at"
    )
    columns = (
        "token_id, ebook_id, apple_user_id, person_id, state, error_number, error_message, "
        "event_id, kept, assigned_at, updated_at"
    )
    conflict = (
        "ON CONFLICT (ebook_id, apple_user_id) DO UPDATE SET state = excluded.state, "
        "error_number = NULL, error_message = '', updated_at = excluded.updated_at, "
        f"assigned_at = COALESCE({LICENSE_TABLE}.assigned_at, excluded.assigned_at) "
        f"WHERE {LICENSE_TABLE}.state <> excluded.state"
    )
    if connection.vendor == "postgresql":
        ebooks, client_ids = (list(column) for column in zip(*rows, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {APPLE_USER_TABLE} ({user_columns}) "  # noqa: S608 - our tables
                "SELECT %s, c, '', %s, '', '', false, '', '', %s, %s FROM unnest(%b::text[]) AS c "
                "ON CONFLICT (token_id, client_user_id) DO NOTHING",
                [token_id, retired, at, at, sorted(set(client_ids))],
            )
            cursor.execute(
                f"INSERT INTO {LICENSE_TABLE} ({columns}) "  # noqa: S608 - our tables
                "SELECT %s, t.e, u.id, u.person_id, %s, NULL, '', '', false, %s, %s "
                "FROM unnest(%b::bigint[], %b::text[]) AS t(e, c) "
                # One index probe per row, whatever the statistics say: a join lets the planner,
                # misled by stale statistics on a table the sync just filled, hash all the
                # token's users for every page (300,000 rows, 200 ms a page). LIMIT 1 keeps the
                # subquery from being flattened into such a join.
                f"CROSS JOIN LATERAL (SELECT id, person_id FROM {APPLE_USER_TABLE} "
                "WHERE token_id = %s AND client_user_id = t.c LIMIT 1) AS u "
                f"{conflict}",
                [token_id, assigned, at, at, ebooks, client_ids, token_id],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {APPLE_USER_TABLE} ({user_columns}) "  # noqa: S608 - our tables
            "VALUES (%s, %s, '', %s, '', '', 0, '', '', %s, %s) "
            "ON CONFLICT (token_id, client_user_id) DO NOTHING",
            [(token_id, c, retired, at, at) for c in sorted({c for _, c in rows})],
        )
        cursor.executemany(
            f"INSERT INTO {LICENSE_TABLE} ({columns}) "  # noqa: S608 - our tables
            "SELECT %s, %s, u.id, u.person_id, %s, NULL, '', '', 0, %s, %s "
            f"FROM {APPLE_USER_TABLE} u WHERE u.token_id = %s AND u.client_user_id = %s "
            f"{conflict}",
            [(token_id, e, assigned, at, at, token_id, c) for e, c in rows],
        )


def apple_users_upsert_rows(
    *, token_id: int, rows: Sequence[tuple[str, str, str, str, str]], seen_at: datetime
) -> None:
    """(client_user_id, email, status, invite_code, id_hash) rows, inserted or refreshed."""
    if not rows:
        return
    columns = (
        "token_id, client_user_id, email, status, invite_code, id_hash, managed, error, "
        "event_id, last_seen_at, updated_at"
    )
    # Within one run (same seen_at) a user listed twice keeps its liveliest status whatever the
    # order its pages are written in (the sync writes pages side by side); a later run
    # overwrites.
    conflict = (
        "ON CONFLICT (token_id, client_user_id) DO UPDATE SET email = excluded.email, "
        "status = excluded.status, invite_code = excluded.invite_code, "
        "id_hash = excluded.id_hash, last_seen_at = excluded.last_seen_at, "
        "updated_at = excluded.updated_at "
        f"WHERE {APPLE_USER_TABLE}.last_seen_at IS NULL "
        f"OR {APPLE_USER_TABLE}.last_seen_at <> excluded.last_seen_at "
        f"OR {_rank(APPLE_USER_TABLE + '.status')} <= {_rank('excluded.status')}"
    )
    if connection.vendor == "postgresql":
        ids, emails, statuses, invites, hashes = zip(*rows, strict=True)
        with _binary_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {APPLE_USER_TABLE} ({columns}) "  # noqa: S608 - table names are ours
                "SELECT %s, c, e, s, i, h, false, '', '', %s, %s "
                "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
                "AS t(c, e, s, i, h) "
                f"{conflict}",
                [token_id, seen_at, seen_at, *map(list, (ids, emails, statuses, invites, hashes))],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {APPLE_USER_TABLE} ({columns}) "  # noqa: S608 - table names are ours
            f"VALUES (%s, %s, %s, %s, %s, %s, 0, '', '', %s, %s) {conflict}",
            [(token_id, *row, seen_at, seen_at) for row in rows],
        )


def _rank(column: str) -> str:
    """SQL for a status's liveliness, as apple_records ranks it."""
    live, invited = AppleUser.Status.ASSOCIATED, AppleUser.Status.REGISTERED
    return f"(CASE {column} WHEN '{live}' THEN 2 WHEN '{invited}' THEN 1 ELSE 0 END)"


def _binary_cursor() -> psycopg.Cursor:
    """A cursor on Django's PostgreSQL connection (same transaction) that binds server-side.

    Django's own cursor binds client-side: psycopg would quote each of a page's thousands of
    array elements in Python and the server parse them back, three times the CPU of sending
    the arrays (the %b parameters) in binary.
    """
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


# --- the reconciler's writes (separate from the sync's above) -------------------------------


def licenses_state_upsert(
    *,
    token_id: int,
    ebook_id: int,
    rows: Sequence[tuple[int, int | None]],
    state: str,
    error_number: int | None,
    error_message: str,
    at: datetime,
) -> None:
    """(apple_user_id, person_id) rows: the book's license in `state`, created when absent.

    One statement per call instead of an ORM insert plus an UPDATE … IN; a license Apple already
    gave (assigned) is never moved back to a lesser state.
    """
    if not rows:
        return
    assigned = License.State.ASSIGNED
    columns = (
        "token_id, ebook_id, apple_user_id, person_id, state, error_number, error_message, "
        "event_id, kept, assigned_at, updated_at"
    )
    conflict = (
        "ON CONFLICT (ebook_id, apple_user_id) DO UPDATE SET state = excluded.state, "
        "error_number = excluded.error_number, error_message = excluded.error_message, "
        "event_id = '', updated_at = excluded.updated_at "
        f"WHERE {LICENSE_TABLE}.state <> '{assigned}'"
    )
    if connection.vendor == "postgresql":
        users, people = (list(column) for column in zip(*rows, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LICENSE_TABLE} ({columns}) "  # noqa: S608 - our tables
                "SELECT %s, %s, t.u, t.p, %s, %s, %s, '', false, NULL, %s "
                "FROM unnest(%b::bigint[], %b::bigint[]) AS t(u, p) "
                f"{conflict}",
                [token_id, ebook_id, state, error_number, error_message, at, users, people],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {LICENSE_TABLE} ({columns}) "  # noqa: S608 - our tables
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, '', 0, NULL, %s) {conflict}",
            [
                (token_id, ebook_id, user, person, state, error_number, error_message, at)
                for user, person in rows
            ],
        )


def apple_users_event_set(*, token_id: int, rows: Sequence[tuple[str, str]]) -> None:
    """(client_user_id, event_id) rows: the registration event of each user, in one statement."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        cuids, events = (list(column) for column in zip(*rows, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                f"UPDATE {APPLE_USER_TABLE} SET event_id = t.e, error = '' "  # noqa: S608
                "FROM unnest(%b::text[], %b::text[]) AS t(c, e) "
                f"WHERE {APPLE_USER_TABLE}.token_id = %s "
                f"AND {APPLE_USER_TABLE}.client_user_id = t.c",
                [cuids, events, token_id],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {APPLE_USER_TABLE} SET event_id = %s, error = '' "  # noqa: S608
            "WHERE token_id = %s AND client_user_id = %s",
            [(event, token_id, cuid) for cuid, event in rows],
        )


def licenses_event_set(*, rows: Sequence[tuple[int, int, str]]) -> None:
    """(ebook_id, apple_user_id, event_id) rows: the Apple event of each pending license."""
    if not rows:
        return
    pending = License.State.PENDING
    if connection.vendor == "postgresql":
        books, users, events = (list(column) for column in zip(*rows, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                f"UPDATE {LICENSE_TABLE} SET event_id = t.e "  # noqa: S608 - our tables
                "FROM unnest(%b::bigint[], %b::bigint[], %b::text[]) AS t(b, u, e) "
                f"WHERE {LICENSE_TABLE}.ebook_id = t.b AND {LICENSE_TABLE}.apple_user_id = t.u "
                f"AND {LICENSE_TABLE}.state = %s",
                [books, users, events, pending],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {LICENSE_TABLE} SET event_id = %s "  # noqa: S608 - our tables
            "WHERE ebook_id = %s AND apple_user_id = %s AND state = %s",
            [(event, book, user, pending) for book, user, event in rows],
        )
