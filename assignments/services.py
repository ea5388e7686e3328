"""Writes for the directory and assignments. Nothing here revokes a license: Apple cannot."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from assignments.models import GroupAssignment, License, Membership, Person, UserGroup
from assignments.selectors import (
    HELD_STATES,
    ebooks_assigned_to_groups,
    ebooks_assigned_to_people,
    people_covered,
    token_ids_of_ebooks,
)
from assignments.signals import licenses_wanted_changed
from ebooks.models import EBook

logger = logging.getLogger(__name__)


def licenses_wanted_notify(*, token_ids: Iterable[int]) -> None:
    """Tell the reconciler, once the transaction commits, which tokens to look at again."""
    ids = sorted(set(token_ids))
    if ids:
        transaction.on_commit(
            lambda: licenses_wanted_changed.send(sender=GroupAssignment, token_ids=ids)
        )


def licenses_kept_refresh(
    *, ebook_ids: Iterable[int], person_ids: Collection[int] | None = None
) -> int:
    """Flag held licenses no assignment asks for as kept; unflag the ones asked for again."""
    changed = 0
    for ebook_id in sorted(set(ebook_ids)):
        covered = people_covered(ebook_id=ebook_id).values("pk")
        licenses = License.objects.filter(ebook_id=ebook_id)
        if person_ids is not None:
            licenses = licenses.filter(person_id__in=list(person_ids))
        changed += (
            licenses.filter(kept=False, state__in=HELD_STATES)
            .exclude(person__in=covered)
            .update(kept=True)
        )
        changed += licenses.filter(kept=True, person__in=covered).update(kept=False)
    return changed


def directory_changed(*, ebook_ids: set[int], person_ids: Collection[int] | None = None) -> None:
    """Re-flag kept licenses of the books and tell the reconciler their tokens changed."""
    if ebook_ids:
        licenses_kept_refresh(ebook_ids=ebook_ids, person_ids=person_ids)
        licenses_wanted_notify(token_ids=token_ids_of_ebooks(ebook_ids=ebook_ids))


# --- group assignments --------------------------------------------------------------------


def _check_assignment(*, ebook: EBook, intent: str, cap: int | None) -> None:
    if ebook.gone_at is not None:
        raise ValidationError(
            f"“{ebook}” is no longer in its token (moved or refunded); it cannot be assigned."
        )
    if intent not in GroupAssignment.Intent.values:
        raise ValidationError("Choose the intent: Available or Required.")
    if cap is not None and cap < 1:
        raise ValidationError("A cap must be at least 1; leave it empty for no cap.")


@transaction.atomic
def group_assignment_create(
    *,
    ebook: EBook,
    groups: Iterable[UserGroup],
    intent: str,
    excluded_groups: Iterable[UserGroup] = (),
    cap: int | None = None,
    confirmed_irrevocable: bool,
    user=None,
) -> list[GroupAssignment]:
    """Assign a book to user groups (one row per group); re-assigning updates the row."""
    if not confirmed_irrevocable:
        raise ValidationError(
            "Confirm that you understand book licenses can never be taken back before assigning."
        )
    groups, excluded = list(groups), list(excluded_groups)
    _check_assignment(ebook=ebook, intent=intent, cap=cap)
    if not groups:
        raise ValidationError("Choose at least one user group.")
    if both := {g.pk for g in groups} & {g.pk for g in excluded}:
        names = ", ".join(sorted(g.name for g in groups if g.pk in both))
        raise ValidationError(f"A group cannot be both assigned and excluded: {names}.")
    if cap is not None and len(groups) > 1:
        raise ValidationError(
            "A cap limits one assignment: choose a single group, or leave the cap empty."
        )
    assignments = []
    for group in groups:
        assignment, created = GroupAssignment.objects.get_or_create(
            ebook=ebook,
            group=group,
            defaults={"intent": intent, "cap": cap, "created_by": user},
        )
        if not created:
            assignment.intent, assignment.cap = intent, cap
            assignment.save(update_fields=["intent", "cap"])
        assignment.excluded_groups.set(excluded)
        assignments.append(assignment)
    licenses_kept_refresh(ebook_ids=[ebook.pk])
    licenses_wanted_notify(token_ids=[ebook.token_id])
    logger.info(
        "Assigned book %s to groups %s (%s) by %s",
        ebook.pk,
        [g.pk for g in groups],
        intent,
        getattr(user, "pk", None),
    )
    return assignments


@transaction.atomic
def group_assignment_update(
    *, assignment: GroupAssignment, intent: str, cap: int | None, user=None
) -> GroupAssignment:
    """Change an assignment's intent or cap."""
    _check_assignment(ebook=assignment.ebook, intent=intent, cap=cap)
    assignment.intent, assignment.cap = intent, cap
    assignment.save(update_fields=["intent", "cap"])
    licenses_wanted_notify(token_ids=[assignment.ebook.token_id])
    logger.info(
        "Assignment %s changed to %s by %s", assignment.pk, intent, getattr(user, "pk", None)
    )
    return assignment


@transaction.atomic
def group_assignment_remove(*, assignment: GroupAssignment, user=None) -> int:
    """Delete an assignment; licenses already given stay with the people, marked kept."""
    ebook = assignment.ebook
    assignment.delete()
    kept = licenses_kept_refresh(ebook_ids=[ebook.pk])
    licenses_wanted_notify(token_ids=[ebook.token_id])
    logger.info("Assignment of book %s removed by %s", ebook.pk, getattr(user, "pk", None))
    return kept


# --- directory ----------------------------------------------------------------------------


@transaction.atomic
def group_members_change(
    *,
    group: UserGroup,
    add_person_ids: Iterable[int] = (),
    remove_person_ids: Iterable[int] = (),
) -> tuple[int, int]:
    """Add and remove members of a group; removed members keep their licenses."""
    add, remove = set(add_person_ids), set(remove_person_ids)
    removed, _ = Membership.objects.filter(group=group, person_id__in=remove - add).delete()
    created = Membership.objects.bulk_create(
        [Membership(group=group, person_id=pk) for pk in add - remove], ignore_conflicts=True
    )
    if add or remove:
        directory_changed(
            ebook_ids=ebooks_assigned_to_groups(group_ids=[group.pk]), person_ids=add | remove
        )
    return len(created), removed


@transaction.atomic
def memberships_delete(*, memberships: QuerySet[Membership]) -> int:
    """Delete memberships; the people keep the licenses they were given."""
    pairs = list(memberships.values_list("group_id", "person_id"))
    deleted, _ = Membership.objects.filter(pk__in=memberships.values("pk")).delete()
    directory_changed(
        ebook_ids=ebooks_assigned_to_groups(group_ids={g for g, _ in pairs}),
        person_ids={p for _, p in pairs},
    )
    return deleted


@transaction.atomic
def person_save(*, person: Person, active_changed: bool) -> Person:
    """Save a person; (de)activating one changes which books they should hold."""
    person.save()
    if active_changed:
        directory_changed(
            ebook_ids=ebooks_assigned_to_people(person_ids=[person.pk]), person_ids=[person.pk]
        )
    return person


@transaction.atomic
def people_delete(*, people: QuerySet[Person]) -> int:
    """Delete people; the licenses they hold stay theirs at Apple and are marked kept."""
    person_ids = list(people.values_list("pk", flat=True))
    ebook_ids = ebooks_assigned_to_people(person_ids=person_ids)
    License.objects.filter(person_id__in=person_ids, state__in=HELD_STATES).update(kept=True)
    deleted, _ = Person.objects.filter(pk__in=person_ids).delete()
    licenses_wanted_notify(token_ids=token_ids_of_ebooks(ebook_ids=ebook_ids))
    return deleted


@transaction.atomic
def user_groups_delete(*, groups: QuerySet[UserGroup]) -> int:
    """Delete groups with their memberships and assignments; licenses given stay, marked kept."""
    group_ids = list(groups.values_list("pk", flat=True))
    ebook_ids = ebooks_assigned_to_groups(group_ids=group_ids)
    deleted, _ = UserGroup.objects.filter(pk__in=group_ids).delete()
    directory_changed(ebook_ids=ebook_ids)
    return deleted
