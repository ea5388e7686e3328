"""people.csv: create or update people, keyed by email, a batch at a time."""

from __future__ import annotations

from typing import BinaryIO

from django.db.models import Q

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
    batch_external_ids: set[str] = set()
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
        if email in batch or values["external_id"] in batch_external_ids:
            continue  # a repeat within the batch: reported at the end, never written twice
        batch[email] = (row.line, values)
        if values["external_id"]:
            batch_external_ids.add(values["external_id"])
        if len(batch) >= BATCH:
            changed += _write(batch, columns, meter, result)
            batch, batch_external_ids = {}, set()
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
    before, removed = _existing(list(batch), columns)
    if _identify(batch, before, result):
        before, removed = _existing(list(batch), columns)
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


def _existing(emails: list[str], columns: list[str]) -> tuple[dict, dict]:
    """email → (pk, *columns) of the people the database has; email → pk of removed ones."""
    before, removed = {}, {}
    for email, pk, *current, removed_at in Person.objects.filter(email__in=emails).values_list(
        "email", "pk", *columns, "removed_at"
    ):
        before[email] = (pk, *current)
        if removed_at is not None:
            removed[email] = pk
    return before, removed


def _identify(batch: dict[str, tuple[int, dict]], before: dict, result: FileResult) -> bool:
    """Match rows to people by external id (and, for people deleted while Apple knew them, by
    managed Apple ID). A deleted person found under a new email takes that email, and so gets
    their Apple user and licenses back; an external id held by someone else is refused.
    Returns whether any email changed.
    """
    external = {v["external_id"]: e for e, (_, v) in batch.items() if v["external_id"]}
    managed = {
        v["managed_apple_id"]: e
        for e, (_, v) in batch.items()
        if v["managed_apple_id"] and e not in before
    }
    if not external and not managed:
        return False
    query = Q(external_id__in=list(external)) | Q(
        managed_apple_id__in=list(managed), removed_at__isnull=False
    )
    renamed: set[str] = set()
    for pk, old, external_id, managed_id, removed_at in Person.objects.filter(query).values_list(
        "pk", "email", "external_id", "managed_apple_id", "removed_at"
    ):
        email = external.get(external_id) or managed.get(managed_id)
        if email is None or email == old or email not in batch:
            continue
        if removed_at is not None and email not in before and email not in renamed:
            Person.objects.filter(pk=pk).update(email=email)
            renamed.add(email)
        elif external.get(external_id) == email:
            line = batch.pop(email)[0]
            result.error(line, f"external_id “{external_id}” already belongs to {old}.")
    return bool(renamed)
