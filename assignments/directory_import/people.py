"""people.csv: create or update people, keyed by email, a batch at a time."""

from __future__ import annotations

from typing import BinaryIO

from assignments.directory_import.columns import PEOPLE_COLUMNS
from assignments.directory_import.rows import FileResult, Repeats, Row, Rows, chunks, report
from assignments.directory_import.upsert import BATCH, keyed_upsert
from assignments.models import Person
from assignments.selectors import ebooks_assigned_to_people
from assignments.services import LicenseMeter, directory_changed, people_relink

_FIELDS = ("display_name", "external_id", "managed_apple_id", "active")
# Past this many, re-check whole books rather than list every person in one query.
_PEOPLE_LISTED = 2000


def people_rows_import(*, source: bytes | BinaryIO, meter: LicenseMeter, result: FileResult):
    """Write people.csv's good rows in batches; problems go to `result` (the caller rolls back)."""
    rows = Rows(source, result, PEOPLE_COLUMNS)
    emails, external_ids = Repeats(), Repeats()
    batch: dict[str, tuple[int, dict]] = {}
    changed: list[int] = []
    columns: list[str] | None = None
    for row in rows:
        if columns is None:
            # Only columns the file has are written: a file without display_name keeps names.
            columns = [c for c in _FIELDS if rows.has(c)]
        parsed = _person(row)
        if not report(result, row):
            continue
        email, values = parsed
        emails.add(email, row.line)
        if values["external_id"]:
            external_ids.add(values["external_id"], row.line)
        if email in batch:
            continue  # a repeat within the batch: reported at the end, never written twice
        batch[email] = (row.line, values)
        if len(batch) >= BATCH:
            changed += _write(batch, columns, meter, result)
            batch = {}
    if batch:
        changed += _write(batch, columns or [], meter, result)
    for line, first in emails.found():
        result.error(line, f"duplicate: this email is already on line {first}.")
    for line, first in external_ids.found():
        result.error(line, f"duplicate: this external_id is already on line {first}.")
    if not result.rows and not result.errors:
        result.error(2, "no people in the file: add one row per person.")
    if changed:
        listed = changed if len(changed) <= _PEOPLE_LISTED else None
        ebook_ids: set[int] = set()
        for chunk in chunks(changed, _PEOPLE_LISTED):
            ebook_ids |= ebooks_assigned_to_people(person_ids=chunk)
        directory_changed(ebook_ids=ebook_ids, person_ids=listed)


def _person(row: Row) -> tuple[str, dict]:
    email = row.email("email", required=True)
    values = {
        "display_name": row.text("display_name", 200),
        "external_id": row.text("external_id", 200) or None,
        "managed_apple_id": row.email("managed_apple_id"),
        "active": row.boolean("active"),
    }
    return email, values


def _write(
    batch: dict[str, tuple[int, dict]], columns: list[str], meter: LicenseMeter, result
) -> list[int]:
    """Upsert one batch; returns the ids of people whose active flag changed."""
    emails = list(batch)
    external_ids = [v["external_id"] for _, v in batch.values() if v["external_id"]]
    owners = dict(
        Person.objects.filter(external_id__in=external_ids).values_list("external_id", "email")
        if external_ids
        else ()
    )
    for email, (line, values) in list(batch.items()):
        owner = owners.get(values["external_id"])
        if owner and owner != email:
            result.error(line, f"external_id “{values['external_id']}” already belongs to {owner}.")
            del batch[email]
    before, removed = {}, {}
    for email, pk, *current, removed_at in Person.objects.filter(email__in=emails).values_list(
        "email", "pk", *columns, "removed_at"
    ):
        before[email] = (pk, *current)
        if removed_at is not None:
            removed[email] = pk
    active_at = 1 + columns.index("active") if "active" in columns else None
    flips = [
        current[0]
        for email, current in before.items()
        if email in batch
        and (
            email in removed
            or (active_at is not None and current[active_at] != batch[email][1]["active"])
        )
    ]
    if flips:
        # Reactivating people can hand out licenses: measure their books before they change.
        meter.touch(ebook_ids=ebooks_assigned_to_people(person_ids=flips))
    upserted = keyed_upsert(
        model=Person,
        key="email",
        rows={email: values for email, (_, values) in batch.items()},
        columns=columns,
        result=result,
        before=before,
    )
    if removed:
        # Deleted while Apple knew them, now in the file again: back, with their licenses.
        back = Person.objects.filter(pk__in=removed.values())
        if "active" in columns:
            back.update(removed_at=None)
        else:
            back.update(removed_at=None, active=True)
    if upserted.created:
        people_relink(emails=upserted.created)
    return flips
