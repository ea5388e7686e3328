"""The one keyed bulk upsert: compare a batch with the database by key, write what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, models
from django.utils import timezone

from assignments.directory_import.rows import FileResult

BATCH = 1000  # rows per INSERT; well under SQLite's variable limit with every column


@dataclass
class Batch:
    """What one upsert found: the rows before it (key → (pk, *columns)) and the keys created."""

    before: dict[str, tuple] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)


def existing_by_key(*, model: type[models.Model], key: str, keys: list[str], columns) -> dict:
    """key → (pk, *columns) of the rows the database has for these keys."""
    return {
        row[0]: row[1:]
        for row in model.objects.filter(**{f"{key}__in": keys}).values_list(key, "pk", *columns)
    }


def keyed_upsert(
    *,
    model: type[models.Model],
    key: str,
    rows: dict[str, dict],
    columns: list[str],
    result: FileResult,
    before: dict[str, tuple] | None = None,
) -> Batch:
    """Create or update one batch of rows (key → values), counting created/updated/unchanged."""
    batch = Batch(
        before
        if before is not None
        else existing_by_key(model=model, key=key, keys=list(rows), columns=columns)
    )
    writes: list[dict] = []
    for value, values in rows.items():
        current = batch.before.get(value)
        if current is None:
            result.created += 1
            batch.created.append(value)
        elif tuple(current[1:]) == tuple(values[c] for c in columns):
            result.unchanged += 1
            continue
        else:
            result.updated += 1
        writes.append({key: value, **{c: values[c] for c in columns}})
    if writes:
        _upsert(model, key, columns, writes)
    return batch


def _upsert(model: type[models.Model], key: str, columns: list[str], writes: list[dict]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE the given columns, one executemany per batch.

    Django's bulk_create builds a model instance and compiles every value of every row; at a
    million rows that costs more than the database. Here defaults and the timestamps are
    computed once per batch, and a row carries plain values (str, bool, int, None).
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
    updated = [by_name[c] for c in columns] + [
        f.attname for f in fields if getattr(f, "auto_now", False)
    ]
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updated)
        if columns
        else "DO NOTHING"
    )
    # Names come from the model, never from the file; the values go as parameters.
    table, listed = quote(model._meta.db_table), ", ".join(quote(n) for n in names)
    placeholders = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {table} ({listed}) VALUES ({placeholders}) "  # noqa: S608
    sql += f"ON CONFLICT ({quote(by_name[key])}) {action}"
    params = []
    for write in writes:
        values = {by_name[name]: value for name, value in write.items()}
        params.append([values[n] if n in values else constant[n] for n in names])
    with connection.cursor() as cursor:
        for start in range(0, len(params), BATCH):
            cursor.executemany(sql, params[start : start + BATCH])
