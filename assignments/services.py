"""Writes for the directory and assignments. Nothing here revokes a license: Apple cannot."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from assignments.models import (
    AppleUser,
    GroupAssignment,
    License,
    Membership,
    Person,
    UserGroup,
)
from assignments.selectors import (
    HELD_STATES,
    ebooks_assigned_to_groups,
    ebooks_assigned_to_people,
    licenses_to_consume,
    people_covered,
    token_ids_of_ebooks,
)
from assignments.signals import WANTED_ASSIGNMENT, WANTED_MEMBERSHIP, licenses_wanted_changed
from ebooks.models import EBook

logger = logging.getLogger(__name__)


def licenses_wanted_notify(*, token_ids: Iterable[int], trigger: str = WANTED_ASSIGNMENT) -> None:
    """Tell the reconciler, once the transaction commits, which tokens to look at again and
    why (`assignment` or `membership`, see assignments.signals)."""
    ids = sorted(set(token_ids))
    if ids:
        transaction.on_commit(
            lambda: licenses_wanted_changed.send(
                sender=GroupAssignment, token_ids=ids, trigger=trigger
            )
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
        licenses_wanted_notify(
            token_ids=token_ids_of_ebooks(ebook_ids=ebook_ids), trigger=WANTED_MEMBERSHIP
        )


# --- the confirmation that licenses will be used for good ------------------------------


class LicensesNeedConfirmation(Exception):
    """A change would use book licenses for good and was not confirmed for exactly that many."""

    def __init__(self, *, count: int, lines: list[str]) -> None:
        super().__init__(f"This change would permanently use {count:,} book licenses.")
        self.count = count
        self.lines = lines


class LicenseMeter:
    """Licenses a change uses for good: each book is measured before the change first touches it,
    and again at the end; what a change adds is the difference."""

    def __init__(self) -> None:
        self.before: dict[int, int] = {}

    def touch(self, *, ebook_ids: Iterable[int]) -> None:
        """Measure these books now, before they change (books already measured are skipped)."""
        new = set(ebook_ids) - self.before.keys()
        if new:
            self.before.update(licenses_to_consume(ebook_ids=new))

    def consumed(self) -> dict[int, int]:
        """Per book, the licenses the change adds to what was going to be used anyway."""
        after = licenses_to_consume(ebook_ids=self.before)
        added = {pk: after.get(pk, 0) - before for pk, before in self.before.items()}
        return {pk: count for pk, count in added.items() if count > 0}

    def check(self, *, confirmed: int | None) -> int:
        """The licenses used; raises unless that is none or exactly `confirmed`."""
        consumed = self.consumed()
        total = sum(consumed.values())
        if total and confirmed != total:
            raise LicensesNeedConfirmation(count=total, lines=consumption_lines(consumed))
        return total


def consumption_lines(consumed: dict[int, int], shown: int = 20) -> list[str]:
    """Per book, in words, the licenses a change uses for good (the most first)."""
    books = EBook.objects.select_related("token").in_bulk(list(consumed))
    ordered = sorted(consumed.items(), key=lambda item: (-item[1], item[0]))
    lines = [
        f"“{books[pk]}” (token {books[pk].token}): {count:,} "
        f"license{'s' if count != 1 else ''} for good."
        for pk, count in ordered[:shown]
        if pk in books
    ]
    if len(ordered) > shown:
        lines.append(f"… and {len(ordered) - shown:,} more books.")
    return lines


@contextmanager
def licenses_checked(*, confirmed: int | None) -> Iterator[LicenseMeter]:
    """Run a directory change that may hand out licenses; roll it back unless confirmed.

    The caller touches the books a step may change before making it; at the end the change is
    kept only when it uses no new license or exactly the number the admin confirmed.
    """
    meter = LicenseMeter()
    with transaction.atomic():
        yield meter
        meter.check(confirmed=confirmed)


# --- group assignments --------------------------------------------------------------------


def group_assignment_validate(
    *,
    ebook: EBook,
    groups: Iterable[UserGroup],
    intent: str,
    excluded_groups: Iterable[UserGroup] = (),
    cap: int | None = None,
    confirmed_irrevocable: bool | None = None,
) -> None:
    """The one check of an assignment's rules; None for the confirmation means "not asked yet"."""
    groups, excluded = list(groups), list(excluded_groups)
    problems = []
    if confirmed_irrevocable is False:
        problems.append(
            "Confirm that you understand book licenses can never be taken back before assigning."
        )
    if ebook.gone_at is not None:
        problems.append(
            f"“{ebook}” is no longer in its token (moved or refunded); it cannot be assigned."
        )
    if intent not in GroupAssignment.Intent.values:
        problems.append("Choose the intent: Available or Required.")
    if cap is not None and cap < 1:
        problems.append("A cap must be at least 1; leave it empty for no cap.")
    if not groups:
        problems.append("Choose at least one user group.")
    if both := {g.pk for g in groups} & {g.pk for g in excluded}:
        names = ", ".join(sorted(g.name for g in groups if g.pk in both))
        problems.append(f"A group cannot be both assigned and excluded: {names}.")
    if cap is not None and len(groups) > 1:
        problems.append(
            "A cap limits one assignment: choose a single group, or leave the cap empty."
        )
    if problems:
        raise ValidationError(problems)


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
    groups, excluded = list(groups), list(excluded_groups)
    group_assignment_validate(
        ebook=ebook,
        groups=groups,
        intent=intent,
        excluded_groups=excluded,
        cap=cap,
        confirmed_irrevocable=confirmed_irrevocable,
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
    *,
    assignment: GroupAssignment,
    intent: str,
    cap: int | None,
    excluded_groups: Iterable[UserGroup] | None = None,
    confirmed_irrevocable: bool,
    user=None,
) -> GroupAssignment:
    """Change an assignment's intent, cap or exclusions (None keeps the exclusions)."""
    excluded = (
        list(assignment.excluded_groups.all()) if excluded_groups is None else list(excluded_groups)
    )
    group_assignment_validate(
        ebook=assignment.ebook,
        groups=[assignment.group],
        intent=intent,
        excluded_groups=excluded,
        cap=cap,
        confirmed_irrevocable=confirmed_irrevocable,
    )
    assignment.intent, assignment.cap = intent, cap
    assignment.save(update_fields=["intent", "cap"])
    assignment.excluded_groups.set(excluded)
    licenses_kept_refresh(ebook_ids=[assignment.ebook_id])
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
    created = person.pk is None
    person.save()
    if created:
        people_relink(emails=[person.email])
    if active_changed:
        directory_changed(
            ebook_ids=ebooks_assigned_to_people(person_ids=[person.pk]), person_ids=[person.pk]
        )
    return person


@transaction.atomic
def people_delete(*, people: QuerySet[Person]) -> tuple[int, int]:
    """Delete people Apple never heard of; deactivate the others. Returns (deleted, deactivated).

    A person with an Apple user or a license is deactivated and leaves their groups instead:
    the row is their identity, so re-importing the same email finds them again with their Apple
    user and licenses, and never registers a second Apple user or buys the books twice.
    """
    person_ids = list(people.values_list("pk", flat=True))
    known: set[int] = set()
    for start in range(0, len(person_ids), 2000):
        chunk = person_ids[start : start + 2000]
        known.update(
            AppleUser.objects.filter(person_id__in=chunk).values_list("person_id", flat=True)
        )
        known.update(
            License.objects.filter(person_id__in=chunk).values_list("person_id", flat=True)
        )
    ebook_ids = ebooks_assigned_to_people(person_ids=person_ids)
    Membership.objects.filter(person_id__in=known).delete()
    deactivated = Person.objects.filter(pk__in=known).update(
        active=False, removed_at=timezone.now()
    )
    _, per_model = Person.objects.filter(pk__in=set(person_ids) - known).delete()
    License.objects.filter(person_id__in=known, state__in=HELD_STATES).update(kept=True)
    licenses_wanted_notify(
        token_ids=token_ids_of_ebooks(ebook_ids=ebook_ids), trigger=WANTED_MEMBERSHIP
    )
    if deactivated:
        logger.info("%s people with Apple users or licenses deactivated, not deleted", deactivated)
    return per_model.get(Person._meta.label, 0), deactivated


def people_relink(*, emails: Collection[str]) -> int:
    """Give people the Apple users (and licenses) an earlier deletion left without a person.

    Apple users are matched by the email they were registered with; one live Apple user per
    person and token, so a person who already has one keeps theirs.
    """
    relinked = 0
    emails = sorted(set(emails))
    for start in range(0, len(emails), 2000):
        orphans = list(
            AppleUser.objects.filter(person__isnull=True, email__in=emails[start : start + 2000])
            .exclude(status=AppleUser.Status.RETIRED)
            .order_by("pk")
        )
        if not orphans:
            continue
        people = dict(
            Person.objects.filter(email__in={u.email for u in orphans}).values_list("email", "pk")
        )
        for user in orphans:
            person_id = people.get(user.email)
            live = AppleUser.objects.filter(token_id=user.token_id, person_id=person_id).exclude(
                status=AppleUser.Status.RETIRED
            )
            if person_id is None or live.exists():
                continue
            AppleUser.objects.filter(pk=user.pk).update(person_id=person_id)
            License.objects.filter(apple_user=user).update(person_id=person_id)
            relinked += 1
    if relinked:
        logger.info("%s Apple users re-linked to their people", relinked)
    return relinked


@transaction.atomic
def user_groups_delete(*, groups: QuerySet[UserGroup]) -> int:
    """Delete groups with their memberships and assignments; licenses given stay, marked kept."""
    group_ids = list(groups.values_list("pk", flat=True))
    ebook_ids = ebooks_assigned_to_groups(group_ids=group_ids)
    deleted, _ = UserGroup.objects.filter(pk__in=group_ids).delete()
    directory_changed(ebook_ids=ebook_ids)
    return deleted
