"""Import people, user groups and devices from CSV files (the command and the admin page).

Each file is checked completely before anything is written, then written in one transaction:
a file with any bad row changes nothing, and every bad row is reported with its line number.
Re-importing updates rows in place (people by email, groups by external id then name, devices
by serial number). Writes are bulk upserts, so a 300,000-person file takes seconds, not hours.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from assignments.models import Device, GroupAssignment, Membership, Person, UserGroup
from assignments.selectors import ebooks_assigned_to_groups
from assignments.services import directory_changed

BATCH = 1000  # rows per INSERT; well under SQLite's variable limit with every column
LOOKUP_CHUNK = 2000  # values per IN (...) when matching the file against the database
SHOWN_ERRORS = 1000  # the admin page lists this many bad rows, then says how many more

# (column, required, meaning): the one description the admin page, the command and README use.
PEOPLE_COLUMNS = (
    ("email", True, "The person's email address; the key: re-importing updates that person."),
    ("display_name", False, "Name shown in the portal."),
    ("external_id", False, "Id in your directory (SIS, HR, LDAP); unique when given."),
    (
        "managed_apple_id",
        False,
        "The person's Managed Apple Account, if any: they need no invitation from Apple.",
    ),
    (
        "active",
        False,
        "true/false (also yes/no, 1/0); blank means true. Inactive people get no "
        "new books and keep the ones they have.",
    ),
)
GROUP_COLUMNS = (
    ("group_name", True, "The group's name."),
    ("description", False, "Blank leaves the current description."),
    (
        "group_external_id",
        False,
        "Id in your directory; when given it is the key (so a group can be renamed), else the "
        "name is.",
    ),
    (
        "member_email",
        False,
        "One row per member, an email from people.csv or already in the portal. A group with no "
        "members is one row with this column blank. The file replaces each listed group's "
        "members; removed members keep the book licenses they were given.",
    ),
)
DEVICE_COLUMNS = (
    ("serial_number", True, "The device's serial number; the key."),
    ("name", False, "Device name."),
    ("model", False, "e.g. iPad (10th generation)."),
    ("os_version", False, "e.g. 17.5."),
    ("owner_email", False, "Email of the person who uses it (user affinity); blank for none."),
    (
        "has_books_app",
        False,
        "true/false: whether Apple's Books app is installed; blank means true.",
    ),
)
FILES = (
    ("people.csv", PEOPLE_COLUMNS),
    ("groups.csv", GROUP_COLUMNS),
    ("devices.csv", DEVICE_COLUMNS),
)

_BOOLEANS = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}


def columns_help() -> str:
    """The documented columns as plain text, for the command's help and the README."""
    lines = []
    for name, columns in FILES:
        lines.append(f"{name}:")
        for column, required, meaning in columns:
            lines.append(f"  {column}{' (required)' if required else ''}: {meaning}")
    return "\n".join(lines)


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class FileResult:
    name: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    members_added: int = 0
    members_removed: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.skipped

    def summary(self) -> str:
        if self.skipped:
            return f"{self.name}: not imported. {self.skipped}"
        if self.errors:
            return (
                f"{self.name}: nothing imported, {len(self.errors):,} bad "
                f"row{'s' if len(self.errors) != 1 else ''}."
            )
        text = (
            f"{self.name}: {self.created:,} created, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged"
        )
        if self.members_added or self.members_removed:
            text += (
                f"; {self.members_added:,} memberships added, "
                f"{self.members_removed:,} removed (removed members keep their licenses)"
            )
        return text + "."


@dataclass
class ImportResult:
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.files)


class _Rows:
    """A CSV file's data rows as (line number, {column: stripped value}), or its errors."""

    def __init__(self, data: bytes, result: FileResult, columns) -> None:
        self.result = result
        self.header: list[str] = []
        self._rows: list[tuple[int, dict[str, str]]] = []
        known = [column for column, _, _ in columns]
        required = [column for column, needed, _ in columns if needed]
        if not data.strip():
            self._error(1, "the file is empty; the first line must name the columns.")
            return
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            self._error(line, "this line is not UTF-8 text. Save the file as “CSV UTF-8”.")
            return
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except csv.Error as error:
            self._error(1, f"the header line cannot be read as CSV ({error}).")
            return
        self.header = [column.strip().lower() for column in header]
        for column in sorted({c for c in self.header if self.header.count(c) > 1}):
            self._error(1, f"column “{column}” appears twice in the header.")
        missing = [column for column in required if column not in self.header]
        for column in missing:
            self._error(
                1,
                f"missing column “{column}”. The first line must name the columns; found: "
                f"{', '.join(self.header) or 'nothing'}.",
            )
        if unknown := [c for c in self.header if c and c not in known]:
            result.warnings.append(f"Ignored unknown column(s): {', '.join(unknown)}.")
        if result.errors:
            return
        self._read(reader)

    def _read(self, reader) -> None:
        previous = reader.line_num
        width = len(self.header)
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self._error(reader.line_num, f"this line cannot be read as CSV ({error}).")
                return
            line, previous = previous + 1, reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) > width:
                self._error(line, f"{len(values)} values but the header names {width} columns.")
                continue
            values = values + [""] * (width - len(values))
            self._rows.append(
                (line, {c: v.strip() for c, v in zip(self.header, values, strict=True) if c})
            )

    def _error(self, line: int, message: str) -> None:
        self.result.errors.append(RowError(line, message))

    def has(self, column: str) -> bool:
        return column in self.header

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        return iter(self._rows)


def _chunks(values: list, size: int = LOOKUP_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _email(value: str, column: str) -> str:
    value = value.lower()
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"{column} “{value}” is not a valid email address.") from None
    return value


def _boolean(value: str, column: str) -> bool:
    if not value:
        return True
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise ValueError(f"{column} “{value}” is not true or false (or yes/no, 1/0).") from None


def _limited(row: dict[str, str], column: str, limit: int) -> str:
    value = row.get(column, "")
    if len(value) > limit:
        raise ValueError(f"{column} is longer than {limit} characters.")
    return value


def _people_by_email(emails: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(emails):
        found.update(Person.objects.filter(email__in=chunk).values_list("email", "pk"))
    return found


# --- people -------------------------------------------------------------------------------

_PERSON_FIELDS = ("display_name", "external_id", "managed_apple_id", "active")


def people_import(*, data: bytes, name: str = "people.csv") -> FileResult:
    """Create or update people from people.csv, keyed by email."""
    result = FileResult(name)
    rows = _Rows(data, result, PEOPLE_COLUMNS)
    wanted: dict[str, dict] = {}
    lines: dict[str, int] = {}
    external_ids: dict[str, tuple[int, str]] = {}  # external id → (line, email)
    for line, row in rows:
        try:
            if not row.get("email"):
                raise ValueError("email is required.")
            email = _email(row["email"], "email")
            if email in lines:
                raise ValueError(f"duplicate: {email} is already on line {lines[email]}.")
            external_id = _limited(row, "external_id", 200) or None
            if external_id and external_id in external_ids:
                raise ValueError(
                    f"duplicate: external_id “{external_id}” is already on line "
                    f"{external_ids[external_id][0]}."
                )
            managed = row.get("managed_apple_id", "")
            if managed:
                managed = _email(managed, "managed_apple_id")
            values = {
                "display_name": _limited(row, "display_name", 200),
                "external_id": external_id,
                "managed_apple_id": managed,
                "active": _boolean(row.get("active", ""), "active"),
            }
        except ValueError as error:
            result.errors.append(RowError(line, str(error)))
            continue
        lines[email] = line
        if external_id:
            external_ids[external_id] = (line, email)
        wanted[email] = values
    if not wanted and not result.errors:
        result.errors.append(RowError(2, "no people in the file: add one row per person."))
    # Only columns the file has are written, so a file without display_name keeps the names.
    columns = [c for c in _PERSON_FIELDS if rows.has(c)]

    existing: dict[str, tuple] = {}
    emails = list(wanted)
    for chunk in _chunks(emails):
        for row in Person.objects.filter(email__in=chunk).values_list("email", "pk", *columns):
            existing[row[0]] = row[1:]
    taken: dict[str, str] = {}
    for chunk in _chunks(list(external_ids)):
        taken.update(
            Person.objects.filter(external_id__in=chunk).values_list("external_id", "email")
        )
    for external_id, (line, email) in external_ids.items():
        owner = taken.get(external_id)
        if owner and owner != email:
            result.errors.append(
                RowError(line, f"external_id “{external_id}” already belongs to {owner}.")
            )
    if result.errors:
        result.errors.sort(key=lambda error: error.line)
        return result

    changed: list[Person] = []
    activity_changed = False
    for email, values in wanted.items():
        current = existing.get(email)
        new = tuple(values[c] for c in columns)
        if current is None:
            result.created += 1
        elif current[1:] == new:
            result.unchanged += 1
            continue
        else:
            result.updated += 1
            if "active" in columns and current[1 + columns.index("active")] != values["active"]:
                activity_changed = True
        changed.append(Person(email=email, **{c: values[c] for c in columns}))
    with transaction.atomic():
        for batch in _chunks(changed, BATCH):
            Person.objects.bulk_create(
                batch,
                update_conflicts=True,
                unique_fields=["email"],
                update_fields=[*columns, "updated_at"],
            )
        if activity_changed:
            # Rare, and bounded by the number of books assigned: re-check every assigned book.
            directory_changed(
                ebook_ids=set(GroupAssignment.objects.values_list("ebook_id", flat=True))
            )
    return result


# --- groups -------------------------------------------------------------------------------


@dataclass
class _GroupRow:
    line: int
    name: str
    external_id: str | None
    description: str = ""
    members: dict[str, int] = field(default_factory=dict)  # email → line


def groups_import(*, data: bytes, name: str = "groups.csv") -> FileResult:
    """Create or update groups from groups.csv and replace the members of each group listed."""
    result = FileResult(name)
    rows = _Rows(data, result, GROUP_COLUMNS)
    groups: dict[str, _GroupRow] = {}  # key: "id:<external id>" or "name:<name>"
    by_name: dict[str, _GroupRow] = {}
    for line, row in rows:
        try:
            group_name = _limited(row, "group_name", 200)
            if not group_name:
                raise ValueError("group_name is required.")
            external_id = _limited(row, "group_external_id", 200) or None
            key = f"id:{external_id}" if external_id else f"name:{group_name}"
            group = groups.get(key)
            other = by_name.get(group_name)
            if other is not None and other is not group:
                raise ValueError(
                    f"group “{group_name}” is on line {other.line} with a different "
                    "group_external_id."
                )
            if group is None:
                group = groups[key] = by_name[group_name] = _GroupRow(line, group_name, external_id)
            elif group.name != group_name:
                raise ValueError(
                    f"group_external_id “{external_id}” is named “{group.name}” on line "
                    f"{group.line}."
                )
            description = row.get("description", "")
            if description:
                if group.description and group.description != description:
                    raise ValueError(f"the description differs from the one on line {group.line}.")
                group.description = description
            email = row.get("member_email", "")
            if email:
                email = _email(email, "member_email")
                if email in group.members:
                    raise ValueError(
                        f"duplicate: {email} is already a member of “{group_name}” on line "
                        f"{group.members[email]}."
                    )
                group.members[email] = line
        except ValueError as error:
            result.errors.append(RowError(line, str(error)))
    if not groups and not result.errors:
        result.errors.append(RowError(2, "no groups in the file: add one row per membership."))

    person_ids = _people_by_email(sorted({e for g in groups.values() for e in g.members}))
    for group in groups.values():
        for email, line in group.members.items():
            if email not in person_ids:
                result.errors.append(
                    RowError(
                        line,
                        f"unknown member_email {email}: no such person. Add them to people.csv.",
                    )
                )
    matched = _match_groups(groups, result)
    if result.errors:
        result.errors.sort(key=lambda error: error.line)
        return result

    with transaction.atomic():
        touched = _write_groups(groups, matched, person_ids, result, rows.has("description"))
        directory_changed(ebook_ids=ebooks_assigned_to_groups(group_ids=touched))
    return result


def _match_groups(groups: dict[str, _GroupRow], result: FileResult) -> dict[str, UserGroup]:
    """The existing group each file group updates (by external id, then by name)."""
    rows = list(groups.values())
    by_external = {
        g.external_id: g
        for g in UserGroup.objects.filter(
            external_id__in=[r.external_id for r in rows if r.external_id]
        )
    }
    by_name = {g.name: g for g in UserGroup.objects.filter(name__in=[r.name for r in rows])}
    matched: dict[str, UserGroup] = {}
    for key, row in groups.items():
        group = by_external.get(row.external_id) if row.external_id else None
        named = by_name.get(row.name)
        if group is None and named is not None:
            if row.external_id and named.external_id and named.external_id != row.external_id:
                result.errors.append(
                    RowError(
                        row.line,
                        f"group “{row.name}” already exists with group_external_id "
                        f"“{named.external_id}”.",
                    )
                )
                continue
            group = named
        elif group is not None and named is not None and named.pk != group.pk:
            renamed_away = any(
                r.external_id == named.external_id and r.name != named.name
                for r in rows
                if named.external_id
            )
            if not renamed_away:
                result.errors.append(
                    RowError(row.line, f"another group is already named “{row.name}”.")
                )
                continue
        if group is not None:
            matched[key] = group
    return matched


def _write_groups(
    groups: dict[str, _GroupRow],
    matched: dict[str, UserGroup],
    person_ids: dict[str, int],
    result: FileResult,
    has_description: bool,
) -> list[int]:
    """Upsert the groups, then make each one's members exactly the file's; returns changed ids."""
    to_update, to_create = [], []
    for key, row in groups.items():
        group = matched.get(key)
        if group is None:
            group = UserGroup(
                name=row.name, external_id=row.external_id, description=row.description
            )
            to_create.append(group)
            result.created += 1
            matched[key] = group
            continue
        before = (group.name, group.external_id, group.description)
        group.name = row.name
        group.external_id = row.external_id or group.external_id
        if has_description and row.description:
            group.description = row.description
        if before != (group.name, group.external_id, group.description):
            to_update.append(group)
            result.updated += 1
        else:
            result.unchanged += 1
    if to_update:
        # Renames may swap names between groups and names are unique row by row, so park the
        # renamed groups under names nobody uses before giving them their new ones.
        for group in to_update:
            UserGroup.objects.filter(pk=group.pk).exclude(name=group.name).update(
                name=f"\u2060renaming {group.pk}"
            )
        UserGroup.objects.bulk_update(to_update, ["name", "external_id", "description"], BATCH)
    UserGroup.objects.bulk_create(to_create, batch_size=BATCH)

    touched = []
    for key, row in groups.items():
        group = matched[key]
        wanted = {person_ids[email] for email in row.members}
        current = set(Membership.objects.filter(group=group).values_list("person_id", flat=True))
        add, remove = wanted - current, current - wanted
        for chunk in _chunks(sorted(remove)):
            Membership.objects.filter(group=group, person_id__in=chunk).delete()
        Membership.objects.bulk_create(
            [Membership(group=group, person_id=pk) for pk in sorted(add)], batch_size=BATCH
        )
        if add or remove:
            touched.append(group.pk)
        result.members_added += len(add)
        result.members_removed += len(remove)
    return touched


# --- devices ------------------------------------------------------------------------------

_DEVICE_FIELDS = ("name", "model", "os_version", "owner_id", "has_books_app")


def devices_import(*, data: bytes, name: str = "devices.csv") -> FileResult:
    """Create or update devices from devices.csv, keyed by serial number."""
    result = FileResult(name)
    rows = _Rows(data, result, DEVICE_COLUMNS)
    wanted: dict[str, dict] = {}
    lines: dict[str, int] = {}
    owners: dict[str, list[int]] = {}
    for line, row in rows:
        try:
            serial = _limited(row, "serial_number", 64).upper()
            if not serial:
                raise ValueError("serial_number is required.")
            if serial in lines:
                raise ValueError(
                    f"duplicate: serial number {serial} is already on line {lines[serial]}."
                )
            owner = row.get("owner_email", "")
            if owner:
                owner = _email(owner, "owner_email")
                owners.setdefault(owner, []).append(line)
            values = {
                "name": _limited(row, "name", 200),
                "model": _limited(row, "model", 100),
                "os_version": _limited(row, "os_version", 40),
                "owner_email": owner,
                "has_books_app": _boolean(row.get("has_books_app", ""), "has_books_app"),
            }
        except ValueError as error:
            result.errors.append(RowError(line, str(error)))
            continue
        lines[serial] = line
        wanted[serial] = values
    if not wanted and not result.errors:
        result.errors.append(RowError(2, "no devices in the file: add one row per device."))
    person_ids = _people_by_email(sorted(owners))
    for email, owner_lines in owners.items():
        if email not in person_ids:
            result.errors.extend(
                RowError(line, f"unknown owner_email {email}: no such person.")
                for line in owner_lines
            )
    if result.errors:
        result.errors.sort(key=lambda error: error.line)
        return result

    present = {"name", "model", "os_version", "has_books_app"} & set(rows.header)
    columns = [
        c for c in _DEVICE_FIELDS if c in present or (c == "owner_id" and rows.has("owner_email"))
    ]
    existing: dict[str, tuple] = {}
    serials = list(wanted)
    for chunk in _chunks(serials):
        for row in Device.objects.filter(serial_number__in=chunk).values_list(
            "serial_number", *columns
        ):
            existing[row[0]] = row[1:]
    changed = []
    for serial, values in wanted.items():
        values["owner_id"] = person_ids.get(values.pop("owner_email")) or None
        new = tuple(values[c] for c in columns)
        if serial not in existing:
            result.created += 1
        elif existing[serial] == new:
            result.unchanged += 1
            continue
        else:
            result.updated += 1
        changed.append(Device(serial_number=serial, **{c: values[c] for c in columns}))
    with transaction.atomic():
        for batch in _chunks(changed, BATCH):
            if columns:
                Device.objects.bulk_create(
                    batch,
                    update_conflicts=True,
                    unique_fields=["serial_number"],
                    update_fields=columns,
                )
            else:
                Device.objects.bulk_create(batch, ignore_conflicts=True)
    return result


# --- all files ----------------------------------------------------------------------------


def directory_import(
    *,
    people: bytes | None = None,
    groups: bytes | None = None,
    devices: bytes | None = None,
) -> ImportResult:
    """Import whichever files are given, people first: groups and devices refer to people."""
    outcome = ImportResult()
    if people is not None:
        outcome.files.append(people_import(data=people))
    people_failed = bool(outcome.files) and not outcome.files[0].ok
    for data, name, importer in (
        (groups, "groups.csv", groups_import),
        (devices, "devices.csv", devices_import),
    ):
        if data is None:
            continue
        if people_failed:
            outcome.files.append(
                FileResult(
                    name,
                    skipped="It refers to people, and people.csv had errors: fix people.csv "
                    "and import both again.",
                )
            )
            continue
        outcome.files.append(importer(data=data, name=name))
    return outcome
