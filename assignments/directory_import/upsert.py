"""The one keyed bulk upsert: compare a batch with the database by key, write what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models

from assignments.directory_import.rows import FileResult
from config.bulk import rows_upsert

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
        rows_upsert(model, conflict=[key], update=columns, rows=writes)
    return batch
