"""Set-based upserts for the sync's two hot tables (a page is 1,000 rows, a token 1,000,000).

Django's bulk_create builds a model instance and compiles every value for each row, which costs
more than the database work itself at this volume. These statements send a batch of pages as
binary arrays or a binary COPY (PostgreSQL) or as executemany (SQLite), and skip rows that would
not change, so a second sync of the same data writes nothing.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

import psycopg
from django.db import IntegrityError, connection, transaction
from psycopg.adapt import Dumper

from assignments.models import AppleUser, License

LICENSE_TABLE = License._meta.db_table
APPLE_USER_TABLE = AppleUser._meta.db_table
_LICENSE_STAGE = "sync_license_stage"
_USER_STAGE = "sync_apple_user_stage"
_EBOOK_TABLE = License._meta.get_field("ebook").related_model._meta.db_table
_PERSON_TABLE = License._meta.get_field("person").related_model._meta.db_table
_USER_COLUMNS = (
    "token_id, client_user_id, email, status, invite_code, id_hash, managed, error, "
    "event_id, last_seen_at, updated_at"
)
_LICENSE_COLUMNS = (
    "token_id, ebook_id, apple_user_id, person_id, state, error_number, error_message, "
    "event_id, kept, assigned_at, updated_at"
)


def apple_user_ids(*, token_id: int) -> dict[str, tuple[int, int | None]]:
    """clientUserId → (id, person id) of a token's Apple users: read once per sync, not per row."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT client_user_id, id, person_id FROM {APPLE_USER_TABLE} "  # noqa: S608
            "WHERE token_id = %s",
            [token_id],
        )
        # fetchall: one call into the driver instead of one per row (300,000 rows).
        return {
            client_user_id: (pk, person_id) for client_user_id, pk, person_id in cursor.fetchall()
        }


def licenses_exist(*, token_id: int) -> bool:
    """Whether the token has any license row (a first full sync can insert without upserting)."""
    return License.objects.filter(token_id=token_id).exists()


def apple_users_exist(*, token_id: int) -> bool:
    """Whether the token has any Apple user row (likewise)."""
    return AppleUser.objects.filter(token_id=token_id).exists()


def apple_users_analyze() -> None:
    """Refresh the planner's statistics of the Apple users after a full listing (PostgreSQL).

    Right after a first sync they still describe an empty table, and the look-up of a batch's
    unknown users (apple_user_ids_resolve) was planned as a sequential scan of 300,000 rows
    matched against the whole list: 0.1 s per batch, 9 s of a full sync. ANALYZE samples
    the table in a tenth of a second; only the look-up's columns (statistics of the long text
    columns cost as much again).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {APPLE_USER_TABLE} (token_id, client_user_id)")


def apple_user_ids_resolve(
    *, token_id: int, client_user_ids: Sequence[str], at: datetime
) -> dict[str, tuple[int, int | None]]:
    """(id, person id) of these clientUserIds; users we have no row for are added, retired.

    Apple lists licenses of users its active-users listing (the users pass) did not show.
    """
    if not client_user_ids:
        return {}
    wanted = sorted(set(client_user_ids))
    found = _apple_user_ids_of(token_id=token_id, client_user_ids=wanted)
    missing = [c for c in wanted if c not in found]
    if missing:
        retired = AppleUser.Status.RETIRED
        if connection.vendor == "postgresql":
            # One statement: a full sync meets tens of thousands of such users, and a
            # statement per user cost the database more than the rest of its batch.
            with _binary_cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {APPLE_USER_TABLE} ({_USER_COLUMNS}) "  # noqa: S608
                    "SELECT %s, t.c, '', %s, '', '', false, '', '', %s, %s "
                    "FROM unnest(%b::text[]) AS t(c) "
                    "ON CONFLICT (token_id, client_user_id) DO NOTHING",
                    [token_id, retired, at, at, missing],
                )
        else:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {APPLE_USER_TABLE} ({_USER_COLUMNS}) "  # noqa: S608
                    "VALUES (%s, %s, '', %s, '', '', %s, '', '', %s, %s) "
                    "ON CONFLICT (token_id, client_user_id) DO NOTHING",
                    [(token_id, c, retired, False, at, at) for c in missing],
                )
        found.update(_apple_user_ids_of(token_id=token_id, client_user_ids=missing))
    return found


def _apple_user_ids_of(
    *, token_id: int, client_user_ids: list[str]
) -> dict[str, tuple[int, int | None]]:
    found: dict[str, tuple[int, int | None]] = {}
    if connection.vendor == "postgresql":
        with _binary_cursor() as cursor:
            cursor.execute(
                f"SELECT client_user_id, id, person_id FROM {APPLE_USER_TABLE} "  # noqa: S608
                "WHERE token_id = %s AND client_user_id = ANY(%b::text[])",
                [token_id, client_user_ids],
            )
            found.update((c, (pk, person)) for c, pk, person in cursor.fetchall())
        return found
    with connection.cursor() as cursor:
        for start in range(0, len(client_user_ids), 500):  # SQLite's bound-parameter limit
            chunk = client_user_ids[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT client_user_id, id, person_id FROM {APPLE_USER_TABLE} "  # noqa: S608
                f"WHERE token_id = %s AND client_user_id IN ({marks})",
                [token_id, *chunk],
            )
            found.update((c, (pk, person)) for c, pk, person in cursor.fetchall())
    return found


# Binary COPY framing (PostgreSQL's documented format), so a batch can be encoded on the sync's
# reading thread, away from the connection, and the writer only streams bytes.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
COPY_TRAILER = b"\xff\xff"
_field_count, _field_length = struct.Struct("!h").pack, struct.Struct("!i").pack
NO_PERSON = 0  # a license stage row's person_id when the license has none (ids start at 1)


class LicenseRows:
    """Licenses to write as 'assigned', column by column: a book id and its holder, the Apple
    user's (id, person id or None) as apple_user_ids maps them (the very tuple, not a copy).

    Two lists, not a dict keyed by new (book, user) tuples: a quarter less Python per license
    gathered, and no tuples for Python's collector to walk. A license
    may come twice (Apple may list one twice): licenses_assigned_upsert writes it once.
    """

    __slots__ = ("ebook_ids", "holders")

    def __init__(self) -> None:
        self.ebook_ids: list[int] = []
        self.holders: list[tuple[int, int | None]] = []

    def add(self, ebook_id: int, holder: tuple[int, int | None]) -> None:
        self.ebook_ids.append(ebook_id)
        self.holders.append(holder)

    def __len__(self) -> int:
        return len(self.ebook_ids)

    def staged(self) -> list[tuple[int, int, int]]:
        """(Apple user id, book id, person id or NO_PERSON): the license stage's rows."""
        return [
            (user, ebook, NO_PERSON if person is None else person)
            for ebook, (user, person) in zip(self.ebook_ids, self.holders, strict=True)
        ]


def licenses_copy_payload(rows: LicenseRows) -> bytes:
    """Rows as binary COPY rows of the license stage (apple_user_id, ebook_id, person_id;
    NO_PERSON for none). No signature nor trailer: licenses_assigned_upsert frames them, and
    orders them by the unique index when it inserts (the database sorts a batch for less than
    Python would)."""
    if not rows:
        return b""
    # map and list comprehensions: zip(*rows) would build an iterator per row (twenty times
    # slower).
    users = list(map(itemgetter(0), rows.holders))
    people = [NO_PERSON if person is None else person for _, person in rows.holders]
    return copy_binary_bigint_rows((users, rows.ebook_ids, people))


def copy_binary_bigint_rows(columns: Sequence[Sequence[int]]) -> bytes:
    """Equal-length columns of non-null bigints as binary COPY rows (no signature nor trailer).

    Every row has the same width, so the data is laid out column by column with strided
    slice assignments, in C: a fifth of the time of packing a million rows one by one.
    """
    count, length = len(columns), len(columns[0])
    width = 2 + count * 12  # field count, then per field: its length (8) and the value
    data = bytearray(width * length)
    _fill_column(data, 0, width, _field_count(count) * length, 2)
    for index, column in enumerate(columns):
        _fill_bigints(data, 2 + index * 12, width, column)
    return bytes(data)


def _fill_bigints(data: bytearray, offset: int, width: int, values: Sequence[int]) -> None:
    """Every row's bigint field at offset, as the binary formats lay one out: its length (8),
    then the value, big-endian."""
    _fill_column(data, offset, width, _field_length(8) * len(values), 4)
    packed = array("q", values)
    if sys.byteorder == "little":
        packed.byteswap()
    _fill_column(data, offset + 4, width, packed.tobytes(), 8)


def _fill_column(data: bytearray, offset: int, width: int, packed: bytes, size: int) -> None:
    """Write packed (one size-byte value per row, back to back) into every row's field at
    offset: byte by byte, each a strided slice assignment over all rows."""
    for byte in range(size):
        data[offset + byte :: width] = packed[byte::size]


class LicensesWritten(NamedTuple):
    orphans: int | None  # staged rows that point at nothing (None: not checked)
    fresh_conflict: bool  # plain inserts met an existing license and the upsert took over


def licenses_assigned_upsert(
    *,
    token_id: int,
    rows: LicenseRows,
    at: datetime,
    check: bool = False,
    fresh: bool = False,
    extra_rows: LicenseRows | None = None,
    copy_payload: bytes | None = None,
) -> LicensesWritten:
    """Rows become licenses in state 'assigned'.

    PostgreSQL: the batch is copied into a narrow temporary table and written by one
    INSERT … SELECT whose constant columns SQL fills in; a row that exists already in the same
    state is left alone, so a second sync of the same data writes nothing. With check, the
    staged rows are then anti-joined with what they point at (the integrity check of an
    incremental run, a few rows).

    fresh (the token had no licenses when the run began): a plain INSERT first (_insert).
    copy_payload: rows already encoded by licenses_copy_payload (PostgreSQL); extra_rows:
    more rows (a license in both is written once).
    """
    extra_rows = extra_rows or LicenseRows()
    if not rows and not extra_rows:
        return LicensesWritten(0 if check else None, False)
    conflict = (
        "ON CONFLICT (ebook_id, apple_user_id) DO UPDATE SET state = excluded.state, "
        "error_number = NULL, error_message = '', updated_at = excluded.updated_at, "
        f"assigned_at = COALESCE({LICENSE_TABLE}.assigned_at, excluded.assigned_at) "
        f"WHERE {LICENSE_TABLE}.state <> excluded.state"
    )
    postgresql = connection.vendor == "postgresql"
    # PostgreSQL inserts in the unique index's order: its pages are touched once per batch (a
    # tenth less database work for a full sync than an unsorted batch), and a license staged
    # twice is dropped on the way (an upsert may not touch a row twice). SQLite's sort costs
    # more than it saves once its page cache holds the indexes (6 % of the writer's CPU), and
    # its upsert meets a second copy as a conflict with the first.
    unique = "DISTINCT ON (s.apple_user_id, s.ebook_id) " if postgresql else ""
    insert = (
        f"INSERT INTO {LICENSE_TABLE} ({_LICENSE_COLUMNS}) "  # noqa: S608 - our tables
        f"SELECT {unique}%s, s.ebook_id, s.apple_user_id, NULLIF(s.person_id, {NO_PERSON}), "
        f"%s, NULL, '', '', %s, %s, %s FROM {_LICENSE_STAGE} AS s "
        # WHERE true: SQLite's parser needs it between a SELECT and ON CONFLICT.
        f"WHERE true {'ORDER BY s.apple_user_id, s.ebook_id ' if postgresql else ''}"
    )
    params = [token_id, License.State.ASSIGNED, False, at, at]
    # atomic: the staged rows live until the commit (callers outside a transaction included).
    with transaction.atomic(), _binary_cursor() if postgresql else connection.cursor() as cursor:
        if postgresql:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_LICENSE_STAGE} "
                "(apple_user_id bigint, ebook_id bigint, person_id bigint) ON COMMIT DELETE ROWS"
            )
            if copy_payload is None:
                copy_payload = licenses_copy_payload(rows)
            with cursor.copy(f"COPY {_LICENSE_STAGE} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(COPY_SIGNATURE)
                copy.write(copy_payload)
                copy.write(licenses_copy_payload(extra_rows))
                copy.write(COPY_TRAILER)
        else:
            # SQLite: an index-free temporary table, then one INSERT … SELECT, takes half the
            # CPU of an upsert per row.
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_LICENSE_STAGE} "
                "(apple_user_id integer, ebook_id integer, person_id integer)"
            )
            cursor.executemany(
                f"INSERT INTO {_LICENSE_STAGE} VALUES (%s, %s, %s)",  # noqa: S608 - our table
                [*rows.staged(), *extra_rows.staged()],
            )
        fresh_conflict = _insert(cursor, insert, conflict, params, fresh=fresh)
        orphans = None
        if check:
            cursor.execute(
                f"SELECT COUNT(*) FROM {_LICENSE_STAGE} AS s "  # noqa: S608 - our tables
                f"WHERE NOT EXISTS (SELECT 1 FROM {APPLE_USER_TABLE} AS u "
                "WHERE u.id = s.apple_user_id AND u.token_id = %s) "
                f"OR NOT EXISTS (SELECT 1 FROM {_EBOOK_TABLE} AS e "
                "WHERE e.id = s.ebook_id AND e.token_id = %s) "
                f"OR (s.person_id <> %s AND NOT EXISTS (SELECT 1 FROM {_PERSON_TABLE} "
                "AS p WHERE p.id = s.person_id))",
                [token_id, token_id, NO_PERSON],
            )
            (orphans,) = cursor.fetchone()
        # The same transaction may stage again (tests write every batch in one).
        _stage_empty(cursor, _LICENSE_STAGE)
    return LicensesWritten(orphans, fresh_conflict)


def _insert(cursor, insert: str, conflict: str, params: list, *, fresh: bool) -> bool:
    """insert + conflict (an upsert); when fresh, a plain insert first. True: it conflicted.

    A plain INSERT spares PostgreSQL ON CONFLICT's index probe and extra WAL record per row (a
    fifth of a first sync's database work). It runs in a savepoint: if a row exists after all
    (Apple listed it twice across batches, or the reconciler wrote it meanwhile) the savepoint
    is undone and the upsert writes the batch.
    """
    if fresh:
        try:
            with transaction.atomic():
                cursor.execute(insert, params)
            return False
        except (IntegrityError, psycopg.errors.UniqueViolation):
            pass
    cursor.execute(insert + conflict, params)
    return fresh


# The check's plan (PostgreSQL). Right after a first sync the statistics still describe empty
# tables: the planner would probe an index per license (a million probes) or bitmap-scan the
# token's licenses as if they were a few hundred. Instead: hash joins, the 290,000 Apple users'
# hash in memory, not in batches spilled to disk (nor a merge join sorting a million licenses
# on disk): 2.1 → 1.7 s. And the scan and the hash shared by parallel workers, since nothing
# else runs at the end of a sync: 0.54-0.62 → 0.25-0.33 s on two cores.
_CHECK_PLANNER_SETTINGS = {
    "enable_nestloop": "off",
    "enable_mergejoin": "off",
    "enable_bitmapscan": "off",
    "enable_indexscan": "off",
    "work_mem": "'64MB'",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
}


def mirror_orphans_count(*, token_id: int) -> dict[str, int]:
    """Rows of the two mirror tables whose references are missing (an anti-join; 0 is healthy).

    The mirror tables carry no row-level foreign keys (see License): this set-based check, run
    after a sync that read all of a token's licenses, is what proves their references hold.
    """
    token_table = License._meta.get_field("token").related_model._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name, value in _CHECK_PLANNER_SETTINGS.items():
                cursor.execute(f"SET LOCAL {name} = {value}")
        cursor.execute(
            "SELECT "  # noqa: S608 - our tables
            "COUNT(CASE WHEN u.id IS NULL OR u.token_id <> l.token_id THEN 1 END), "
            "COUNT(CASE WHEN e.id IS NULL OR e.token_id <> l.token_id THEN 1 END), "
            "COUNT(CASE WHEN l.person_id IS NOT NULL AND p.id IS NULL THEN 1 END) "
            f"FROM {LICENSE_TABLE} AS l "
            f"LEFT JOIN {APPLE_USER_TABLE} AS u ON u.id = l.apple_user_id "
            f"LEFT JOIN {_EBOOK_TABLE} AS e ON e.id = l.ebook_id "
            f"LEFT JOIN {_PERSON_TABLE} AS p ON p.id = l.person_id "
            "WHERE l.token_id = %s",
            [token_id],
        )
        no_user, no_ebook, no_person = cursor.fetchone()
        cursor.execute(
            f"SELECT COUNT(*) FROM {APPLE_USER_TABLE} AS u "  # noqa: S608 - our tables
            f"WHERE u.token_id = %s AND NOT EXISTS (SELECT 1 FROM {token_table} AS t "
            "WHERE t.id = u.token_id)",
            [token_id],
        )
        (no_token,) = cursor.fetchone()
        if connection.vendor == "postgresql":
            # Back to the defaults for the rest of a caller's transaction (tests run whole
            # syncs in one): a later statement planned without nested loops was costed past
            # JIT's threshold and compiled, 0.1 s each.
            for name in _CHECK_PLANNER_SETTINGS:
                cursor.execute(f"SET LOCAL {name} TO DEFAULT")
    return {
        "licenses without their Apple user": no_user,
        "licenses without their book": no_ebook,
        "licenses without their person": no_person,
        "Apple users without their token": no_token,
    }


def apple_users_upsert_rows(
    *,
    token_id: int,
    rows: Sequence[tuple[str, str, str, str, str]],
    seen_at: datetime,
    fresh: bool = False,
) -> bool:
    """(client_user_id, email, status, invite_code, id_hash) rows, inserted or refreshed.

    fresh (the token had no Apple users when the run began): a plain INSERT first (_insert);
    returns whether it met an existing row.
    """
    if not rows:
        return False
    columns = _USER_COLUMNS
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
    postgresql = connection.vendor == "postgresql"
    # Sorted in byte order on PostgreSQL: the index's own order for the ASCII ids we make, for
    # less than half the cost of comparing with the database's collation (300,000 users:
    # 0.34 → 0.13 CPU-seconds). SQLite's default is byte order.
    byte_order = ' COLLATE "C"' if postgresql else ""
    # atomic: the staged rows live until the commit (callers outside a transaction included).
    with transaction.atomic(), _binary_cursor() if postgresql else connection.cursor() as cursor:
        # Staged in an index-free temporary table, then one INSERT … SELECT: on SQLite half the
        # CPU of an upsert per row; on PostgreSQL a binary COPY costs an eighth of the Python
        # that binding five text arrays did (psycopg dumps array elements one by one). Its rows
        # are encoded by psycopg's C writer: a third of the time of our own Python encoder
        # (0.11 against 0.37 s for 300,000 users), where bigint licenses are the other way
        # round (licenses_copy_payload).
        if postgresql:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_USER_STAGE} "
                "(c text, e text, s text, i text, h text) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY {_USER_STAGE} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text"] * 5)
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_USER_STAGE} "
                "(c text, e text, s text, i text, h text)"
            )
            cursor.executemany(
                f"INSERT INTO {_USER_STAGE} VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                rows,
            )
        fresh_conflict = _insert(
            cursor,
            f"INSERT INTO {APPLE_USER_TABLE} ({columns}) "  # noqa: S608 - table names are ours
            f"SELECT %s, c, e, s, i, h, %s, '', '', %s, %s FROM {_USER_STAGE} WHERE true "
            # The unique index's order, as for licenses (a seventh less database work).
            f"ORDER BY c{byte_order} ",
            conflict,
            [token_id, False, seen_at, seen_at],
            fresh=fresh,
        )
        # The same transaction may stage again (tests write every batch in one).
        _stage_empty(cursor, _USER_STAGE)
    return fresh_conflict


def _stage_empty(cursor, stage: str) -> None:
    """Empty a staging table. PostgreSQL: TRUNCATE, a third of the CPU of a DELETE marking
    each batch's rows dead (a million licenses: 0.10 → 0.03 s). SQLite truncates on a DELETE
    without WHERE."""
    verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
    cursor.execute(f"{verb} {stage}")


def _rank(column: str) -> str:
    """SQL for a status's liveliness, as apple_records ranks it."""
    live, invited = AppleUser.Status.ASSOCIATED, AppleUser.Status.REGISTERED
    return f"(CASE {column} WHEN '{live}' THEN 2 WHEN '{invited}' THEN 1 ELSE 0 END)"


def _binary_cursor() -> psycopg.Cursor:
    """A cursor on Django's PostgreSQL connection (same transaction) that binds server-side.

    Django's own cursor binds client-side: psycopg would quote each of a page's thousands of
    array elements in Python and the server parse them back, three times the CPU of sending
    the arrays (the %b parameters) in binary. It also sends int8_array parameters as they are.
    """
    connection.ensure_connection()
    connection.connection.adapters.register_dumper(Int8Array, _Int8ArrayDumper)
    return psycopg.Cursor(connection.connection)


class Int8Array(bytes):
    """A bigint[] parameter already in PostgreSQL's binary array format (see int8_array)."""


class _Int8ArrayDumper(Dumper):
    format = psycopg.pq.Format.BINARY
    oid = 1016  # bigint[] (pg_type, built in)

    def dump(self, obj: Int8Array) -> bytes:
        return obj


_INT8_ARRAY_HEADER = struct.Struct("!iiiii")  # dimensions, has nulls, element type, size, base


def int8_array(values: Sequence[int]) -> Int8Array:
    """ids as a binary bigint[] parameter for _binary_cursor, laid out column by column in C
    as copy_binary_bigint_rows does: psycopg's list dumper spends 0.37 ms per 1,000 elements
    in Python, and the reconciler sends a book's 100,000 people several times per slice."""
    data = bytearray(12 * len(values))  # per element: its length, then its value
    _fill_bigints(data, 0, 12, values)
    return Int8Array(_INT8_ARRAY_HEADER.pack(1, 0, 20, len(values), 1) + data)  # 20: bigint


# --- the reconciler's writes (separate from the sync's above) -------------------------------

# _PROBE: the reconciler writes a batch by its natural keys right after inserting those rows,
# while the planner's statistics still describe a much smaller table. Joined plainly with the
# batch's arrays, it trusted them and read every row of the token (or every pending license,
# through an index full of dead entries) into a hash: 80-180 ms per 1,000 rows. Instead each
# row probes the unique index of its key: a LATERAL subquery with LIMIT 1 (no result changes:
# the key is unique), run by probes_execute, which rules out sequential and bitmap scans (a
# table the statistics call tiny had a sequential scan per row). Other conditions go outside
# the subquery: with the state inside, a table never analysed had the (ebook, state) index
# probed instead, reading every pending license of the book for each row (1.4 s per 1,000).


def probes_execute(cursor: psycopg.Cursor, sql: str, params: Sequence) -> list[tuple] | None:
    """Run a statement shaped as index probes (see _PROBE); its rows, if it returns any."""
    with transaction.atomic():
        # jit off: the scans ruled out add a "disabled" cost of 1e10 to the estimate, far past
        # jit_above_cost, and compiling the statement cost more than running it (0.1-0.5 s).
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', true), "
            "set_config('enable_bitmapscan', 'off', true), set_config('jit', 'off', true)"
        )
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else None
        # Back to the defaults for the rest of the caller's transaction.
        cursor.execute(
            "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_bitmapscan TO DEFAULT; "
            "SET LOCAL jit TO DEFAULT"
        )
    return rows


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


def licenses_requested_upsert(
    *,
    token_id: int,
    ebook_ids: Sequence[int],
    rows: Sequence[tuple[int, int | None]],
    event_id: str,
    at: datetime,
) -> None:
    """Each book's license for each (apple_user_id, person_id) row, pending with `event_id`
    (a request's key, or a run's held marker): one statement for a whole request.

    The key goes in with the row, so the row is written once before its outcome (an UPDATE
    of the event id afterwards re-indexed every row, the dearest statement of a push). A
    license Apple already gave (assigned) is never moved back.
    """
    if not rows or not ebook_ids:
        return
    pending, assigned = License.State.PENDING, License.State.ASSIGNED
    conflict = (
        "ON CONFLICT (ebook_id, apple_user_id) DO UPDATE SET state = excluded.state, "
        "error_number = NULL, error_message = '', event_id = excluded.event_id, "
        f"updated_at = excluded.updated_at WHERE {LICENSE_TABLE}.state <> '{assigned}'"
    )
    # In the unique index's order (apple user, book): its pages are touched once.
    rows, books = sorted(rows), sorted(ebook_ids)
    if connection.vendor == "postgresql":
        users, people = (list(column) for column in zip(*rows, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LICENSE_TABLE} ({_LICENSE_COLUMNS}) "  # noqa: S608 - our tables
                # The books unnested in the select list (a ProjectSet per user, no join): a
                # join of two unnests depended on the planner's settings (with nested loops
                # turned off earlier in the transaction it was costed past JIT's threshold,
                # 0.1 s a request), and pairs laid out in Python cost a third more to send.
                "SELECT %s, unnest(%b::bigint[]), t.u, t.p, %s, NULL, '', %s, false, NULL, %s "
                f"FROM unnest(%b::bigint[], %b::bigint[]) AS t(u, p) {conflict}",
                [token_id, int8_array(books), pending, event_id, at, int8_array(users), people],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {LICENSE_TABLE} ({_LICENSE_COLUMNS}) "  # noqa: S608 - our tables
            f"VALUES (%s, %s, %s, %s, %s, NULL, '', %s, 0, NULL, %s) {conflict}",
            [
                (token_id, book, user, person, pending, event_id, at)
                for user, person in rows
                for book in books
            ],
        )
