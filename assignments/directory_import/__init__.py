"""Import people, user groups and devices from CSV files (the command, the admin page, the task).

The whole import — people.csv, groups.csv and devices.csv together — is one transaction: any
problem in any file, or licenses that would be used without the admin's confirmation of exactly
that number, and nothing at all is saved. Files are streamed a line at a time and written in
batches, so a million-row file takes constant memory. Every problem of every row is reported
with its file and line. Re-importing updates rows in place (people by email, groups by external
id then name, devices by serial number).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.db import DataError, IntegrityError, transaction

from assignments.directory_import.columns import (
    DEVICE_COLUMNS,
    FILES,
    GROUP_COLUMNS,
    PEOPLE_COLUMNS,
    columns_help,
)
from assignments.directory_import.devices import devices_rows_import
from assignments.directory_import.groups import groups_rows_import
from assignments.directory_import.people import people_rows_import
from assignments.directory_import.rows import SHOWN_ERRORS, FileResult, RowError
from assignments.services import LicenseMeter, consumption_lines

__all__ = [
    "DEVICE_COLUMNS",
    "FILES",
    "GROUP_COLUMNS",
    "PEOPLE_COLUMNS",
    "SHOWN_ERRORS",
    "FileResult",
    "ImportResult",
    "RowError",
    "columns_help",
    "devices_import",
    "directory_import",
    "groups_import",
    "people_import",
]

logger = logging.getLogger(__name__)
Source = bytes | BinaryIO
_IMPORTERS = (
    ("people", "people.csv", people_rows_import),
    ("groups", "groups.csv", groups_rows_import),
    ("devices", "devices.csv", devices_rows_import),
)
_PROGRESS_EVERY = 5000  # lines between progress reports


@dataclass
class ImportResult:
    files: list[FileResult] = field(default_factory=list)
    licenses: int = 0  # book licenses the import uses for good (0 when it hands out none)
    license_lines: list[str] = field(default_factory=list)
    needs_confirmation: bool = False  # it would use licenses nobody confirmed: nothing saved

    @property
    def files_ok(self) -> bool:
        return all(result.ok for result in self.files)

    @property
    def ok(self) -> bool:
        """Saved: every file was good and any licenses used were confirmed."""
        return self.files_ok and not self.needs_confirmation

    def confirmation_text(self) -> str:
        return (
            f"This import puts people into groups with books assigned: it will permanently use "
            f"{self.licenses:,} book license{'s' if self.licenses != 1 else ''}, which can never "
            "be taken back."
        )


class _RollBack(Exception):
    pass


def directory_import(
    *,
    people: Source | None = None,
    groups: Source | None = None,
    devices: Source | None = None,
    confirmed_licenses: int | None = None,
    confirm_any: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import whichever files are given, people first, all in one transaction.

    Licenses the import would hand out must be confirmed: `confirmed_licenses` equal to the
    count (the admin saw it), or `confirm_any` (the command's --yes, counted in this same run).
    `progress` is called now and then with the bytes read so far.
    """
    sources = {"people": people, "groups": groups, "devices": devices}
    outcome = ImportResult()
    meter = LicenseMeter()
    read = [0]
    try:
        with transaction.atomic():
            for key, name, importer in _IMPORTERS:
                if sources[key] is None:
                    continue
                result = FileResult(name)
                outcome.files.append(result)
                importer(source=_counted(sources[key], read, progress), meter=meter, result=result)
                result.errors.sort(key=lambda error: error.line)
            if not outcome.files_ok:
                raise _RollBack
            consumed = meter.consumed()
            outcome.licenses = sum(consumed.values())
            outcome.license_lines = consumption_lines(consumed)
            if outcome.licenses and not confirm_any and confirmed_licenses != outcome.licenses:
                outcome.needs_confirmation = True
                raise _RollBack
    except _RollBack:
        pass
    except (IntegrityError, DataError) as error:
        # Every row was checked first; this is a safety net, never a crash page.
        logger.warning("Directory import refused by the database: %s", error)
        outcome.files[-1].error(
            1,
            "the database refused the file's rows, so nothing was saved. Check for rows that "
            "clash with each other (the same email or external_id) and import again.",
        )
    return outcome


def _counted(source: Source, read: list[int], progress) -> Iterator[bytes] | bytes:
    if progress is None:
        return source
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)

    def lines() -> Iterator[bytes]:
        for number, line in enumerate(source, start=1):
            read[0] += len(line)
            if number % _PROGRESS_EVERY == 0:
                progress(read[0])
            yield line
        progress(read[0])

    return lines()


def people_import(*, data: Source, **options) -> FileResult:
    """people.csv alone (all or nothing); see directory_import."""
    return directory_import(people=data, **options).files[0]


def groups_import(*, data: Source, **options) -> FileResult:
    """groups.csv alone (all or nothing); see directory_import."""
    return directory_import(groups=data, **options).files[0]


def devices_import(*, data: Source, **options) -> FileResult:
    """devices.csv alone (all or nothing); see directory_import."""
    return directory_import(devices=data, **options).files[0]
