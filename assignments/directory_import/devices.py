"""devices.csv: create or update devices, keyed by serial number, a batch at a time."""

from __future__ import annotations

from typing import BinaryIO

from assignments.directory_import.columns import DEVICE_COLUMNS
from assignments.directory_import.rows import FileResult, Repeats, Row, Rows, report
from assignments.directory_import.upsert import BATCH, keyed_upsert
from assignments.models import Device, Person

_FIELDS = ("name", "model", "os_version", "has_books_app")


def devices_rows_import(*, source: bytes | BinaryIO, result: FileResult, **_) -> None:
    """Write devices.csv's good rows in batches; problems go to `result` (the caller rolls back)."""
    rows = Rows(source, result, DEVICE_COLUMNS)
    serials = Repeats()
    batch: dict[str, tuple[int, dict]] = {}
    columns: list[str] | None = None
    for row in rows:
        if columns is None:
            columns = [c for c in _FIELDS if rows.has(c)]
            columns += ["owner_id"] if rows.has("owner_email") else []
        serial, values = _device(row)
        if not report(result, row):
            continue
        serials.add(serial, row.line)
        if serial in batch:
            continue  # a repeat within the batch: reported at the end, never written twice
        batch[serial] = (row.line, values)
        if len(batch) >= BATCH:
            _write(batch, columns, result)
            batch = {}
    if batch:
        _write(batch, columns or [], result)
    for line, first in serials.found():
        result.error(line, f"duplicate: this serial number is already on line {first}.")
    if not result.rows and not result.errors:
        result.error(2, "no devices in the file: add one row per device.")


def _device(row: Row) -> tuple[str, dict]:
    serial = row.text("serial_number", 64).upper()
    if not serial:
        row.problems.append("serial_number is required.")
    values = {
        "name": row.text("name", 200),
        "model": row.text("model", 100),
        "os_version": row.text("os_version", 40),
        "owner_email": row.email("owner_email"),
        "has_books_app": row.boolean("has_books_app"),
    }
    return serial, values


def _write(batch: dict[str, tuple[int, dict]], columns: list[str], result: FileResult) -> None:
    owners = {v["owner_email"] for _, v in batch.values() if v["owner_email"]}
    person_ids = dict(Person.objects.filter(email__in=owners).values_list("email", "pk"))
    rows = {}
    for serial, (line, values) in batch.items():
        email = values.pop("owner_email")
        if email and email not in person_ids:
            result.error(line, f"unknown owner_email {email}: no such person.")
            continue
        rows[serial] = {**values, "owner_id": person_ids.get(email)}
    keyed_upsert(model=Device, key="serial_number", rows=rows, columns=columns, result=result)
