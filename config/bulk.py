"""Many rows of a model written by one INSERT … ON CONFLICT DO UPDATE, without the ORM's per-row
cost (the directory import's people and devices, the sync's new books)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models
from django.utils import timezone

_CHUNK = 1000  # rows per statement


def rows_upsert(
    model: type[models.Model],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
    rows: Sequence[dict],
) -> None:
    """Insert rows (field name → plain value: str, int, bool, None, or a datetime adapted by
    connection.ops); a row whose conflict fields exist already updates its `update` fields
    (and the auto_now ones) instead. Fields a row leaves out get the model's default.

    Django's bulk_create builds a model instance and compiles every value of every row; at a
    million rows that costs more than the database, and even 2,000 books took half a second.
    Here defaults and the timestamps are computed once per call, and PostgreSQL gets a batch
    as one statement. No two rows may share their conflict fields (PostgreSQL refuses to
    update a row twice in one statement).
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    constant = {}
    for model_field in fields:
        auto = getattr(model_field, "auto_now", False) or getattr(
            model_field, "auto_now_add", False
        )
        constant[model_field.attname] = (
            now if auto else model_field.get_db_prep_save(model_field.get_default(), connection)
        )
    names = [f.attname for f in fields]
    quote = connection.ops.quote_name
    by_name = {**{f.name: f.attname for f in fields}, **{f.attname: f.attname for f in fields}}
    updated = [by_name[c] for c in update] + [
        f.attname for f in fields if getattr(f, "auto_now", False)
    ]
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updated)
        if update
        else "DO NOTHING"
    )
    # Names come from the model, never from the data; the values go as parameters.
    table, listed = quote(model._meta.db_table), ", ".join(quote(n) for n in names)
    insert = f"INSERT INTO {table} ({listed})"
    target = ", ".join(quote(by_name[c]) for c in conflict)
    on_conflict = f"ON CONFLICT ({target}) {action}"
    valued = [{by_name[name]: value for name, value in row.items()} for row in rows]
    with connection.cursor() as cursor:
        for start in range(0, len(valued), _CHUNK):
            chunk = valued[start : start + _CHUNK]
            if connection.vendor == "postgresql":
                sql, params = _unnest_insert(fields, constant, chunk)
                cursor.execute(f"{insert} {sql} {on_conflict}", params)
            else:
                placeholders = ", ".join(["%s"] * len(names))
                cursor.executemany(
                    f"{insert} VALUES ({placeholders}) {on_conflict}",
                    [[row.get(n, constant[n]) for n in names] for row in chunk],
                )


def _unnest_insert(fields: list, constant: dict, rows: list[dict]) -> tuple[str, list]:
    """PostgreSQL: the rows as one SELECT over unnest(), a typed array per column some row sets,
    the others as one constant each. One statement instead of one per row (the server parsed
    and planned each of those: 0.3 s for 2,000 books)."""
    given = {name for row in rows for name in row}
    quote = connection.ops.quote_name
    selected, constants, arrays, casts, aliases = [], [], [], [], []
    for model_field in fields:
        name = model_field.attname
        if name in given:
            selected.append(f"u.{quote(name)}")
            arrays.append([row.get(name, constant[name]) for row in rows])
            casts.append(f"%s::{model_field.db_type(connection)}[]")
            aliases.append(quote(name))
        else:
            selected.append("%s")
            constants.append(constant[name])
    columns, unnested, names = ", ".join(selected), ", ".join(casts), ", ".join(aliases)
    sql = f"SELECT {columns} FROM unnest({unnested}) AS u({names})"  # noqa: S608 - model names
    return sql, [*constants, *arrays]
