"""groups.csv: create or update groups and make each listed group's members exactly the file's.

Groups are few (thousands), so the file's groups and members are gathered first; memberships are
written group by group, each group's books measured before its members change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from assignments.directory_import.columns import GROUP_COLUMNS
from assignments.directory_import.rows import FileResult, Rows, chunks, report
from assignments.directory_import.upsert import BATCH
from assignments.models import Membership, Person, UserGroup
from assignments.selectors import ebooks_assigned_to_groups
from assignments.services import LicenseMeter, directory_changed

LOOKUP_CHUNK = 2000  # values per IN (...) when matching the file against the database


@dataclass
class _GroupRow:
    line: int
    name: str
    external_id: str | None
    description: str = ""
    members: dict[str, int] = field(default_factory=dict)  # email → line


def groups_rows_import(*, source: bytes | BinaryIO, meter: LicenseMeter, result: FileResult):
    """Write groups.csv; problems go to `result` (the caller rolls back)."""
    rows = Rows(source, result, GROUP_COLUMNS)
    groups: dict[str, _GroupRow] = {}  # key: "id:<external id>" or "name:<name>"
    by_name: dict[str, _GroupRow] = {}
    for row in rows:
        group_name = row.text("group_name", 200)
        if not group_name:
            row.problems.append("group_name is required.")
        external_id = row.text("group_external_id", 200) or None
        email = row.email("member_email")
        description = row.values.get("description", "")
        if group_name:
            group = _group_of(row, group_name, external_id, groups, by_name)
            if group is not None:
                if description and group.description and group.description != description:
                    row.problems.append(
                        f"the description differs from the one on line {group.line}."
                    )
                elif description:
                    group.description = description
                if email and email in group.members:
                    row.problems.append(
                        f"duplicate: {email} is already a member of “{group_name}” on line "
                        f"{group.members[email]}."
                    )
                elif email and not row.problems:
                    group.members[email] = row.line
        report(result, row)
    if not groups and not result.errors:
        result.error(2, "no groups in the file: add one row per membership.")

    person_ids = _people_by_email(sorted({e for g in groups.values() for e in g.members}))
    for group in groups.values():
        for email, line in group.members.items():
            if email not in person_ids:
                result.error(
                    line, f"unknown member_email {email}: no such person. Add them to people.csv."
                )
    matched = _match_groups(groups, result)
    if result.errors:
        return
    touched = _write_groups(groups, matched, person_ids, result, rows.has("description"), meter)
    directory_changed(ebook_ids=ebooks_assigned_to_groups(group_ids=touched))


def _group_of(row, group_name, external_id, groups, by_name) -> _GroupRow | None:
    """The file group this row belongs to, made on its first row; None if the row contradicts."""
    key = f"id:{external_id}" if external_id else f"name:{group_name}"
    group = groups.get(key)
    other = by_name.get(group_name)
    if other is not None and other is not group:
        row.problems.append(
            f"group “{group_name}” is on line {other.line} with a different group_external_id."
        )
        return None
    if group is None:
        group = groups[key] = by_name[group_name] = _GroupRow(row.line, group_name, external_id)
    elif group.name != group_name:
        row.problems.append(
            f"group_external_id “{external_id}” is named “{group.name}” on line {group.line}."
        )
        return None
    return group


def _people_by_email(emails: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(emails, LOOKUP_CHUNK):
        found.update(Person.objects.filter(email__in=chunk).values_list("email", "pk"))
    return found


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
                result.error(
                    row.line,
                    f"group “{row.name}” already exists with group_external_id "
                    f"“{named.external_id}”.",
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
                result.error(row.line, f"another group is already named “{row.name}”.")
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
    meter: LicenseMeter,
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
        if add:
            # New members may be handed licenses: measure the group's books before they join.
            meter.touch(ebook_ids=ebooks_assigned_to_groups(group_ids=[group.pk]))
        for chunk in chunks(sorted(remove), LOOKUP_CHUNK):
            Membership.objects.filter(group=group, person_id__in=chunk).delete()
        Membership.objects.bulk_create(
            [Membership(group=group, person_id=pk) for pk in sorted(add)], batch_size=BATCH
        )
        if add or remove:
            touched.append(group.pk)
        result.members_added += len(add)
        result.members_removed += len(remove)
    return touched
