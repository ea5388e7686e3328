"""Reads for the directory and assignments: the irrevocability preview and who is covered."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from assignments.models import (
    AppleUser,
    Device,
    GroupAssignment,
    License,
    Membership,
    Person,
    UserGroup,
)
from ebooks.models import EBook

# States in which a license is held, or on its way and certain to be held: it counts as given.
HELD_STATES = (License.State.ASSIGNED, License.State.PENDING)

GroupsArg = Iterable[UserGroup | int] | QuerySet[UserGroup]


@dataclass(frozen=True)
class AssignmentPreview:
    """What assigning one book to some groups would do, before anything is saved."""

    targeted: int  # distinct active people in the groups, minus members of excluded groups
    already_held: int  # of those, people who hold the book already (assigned or pending)
    available: int | None  # licenses free right now; None when the book is unlimited (free)
    pending_elsewhere: int  # licenses of this book already on their way to someone
    will_consume: int  # licenses this assignment will use up for good
    beyond_cap: int  # people left out by the cap
    short_of_licenses: int  # people left out because there are not enough licenses
    need_invitation: int  # targeted people who must accept Apple's invitation first
    cap: int | None

    @property
    def needed(self) -> int:
        return self.targeted - self.already_held

    @property
    def shortfall(self) -> int:
        return self.needed - self.will_consume

    def lines(self) -> list[str]:
        """The preview in plain words, for the admin page and the command."""
        people = _plural
        lines = [
            f"{people(self.targeted, 'person is', 'people are')} targeted.",
            f"{people(self.already_held, 'of them already holds', 'of them already hold')} "
            "this book; nothing changes for them.",
        ]
        if self.available is None:
            lines.append("This book is free: Apple sets no limit on its licenses.")
        else:
            lines.append(
                f"{people(self.available, 'license is', 'licenses are')} available now"
                + (
                    f" ({self.pending_elsewhere} more already on their way to people)."
                    if self.pending_elsewhere
                    else "."
                )
            )
        lines.append(
            f"This will permanently use {people(self.will_consume, 'license', 'licenses')}."
        )
        if self.beyond_cap:
            lines.append(
                f"{people(self.beyond_cap, 'person gets', 'people get')} nothing because of the "
                f"cap of {self.cap}."
            )
        if self.short_of_licenses:
            lines.append(
                f"Shortfall: {people(self.short_of_licenses, 'person', 'people')} will not get the "
                "book because there are not enough licenses. Buy more, then the reconciler "
                "assigns them."
            )
        lines.append(
            f"{people(self.need_invitation, 'person has', 'people have')} to accept Apple's "
            "invitation before the book installs (people with a managed Apple ID do not)."
        )
        return lines


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _member_ids(groups: GroupsArg) -> QuerySet:
    return Membership.objects.filter(group__in=groups).values("person_id")


def targeted_people(*, groups: GroupsArg, excluded_groups: GroupsArg = ()) -> QuerySet[Person]:
    """Active people in any of the groups and in none of the excluded groups."""
    people = Person.objects.filter(active=True, pk__in=_member_ids(groups))
    excluded = list(excluded_groups)
    if excluded:
        people = people.exclude(pk__in=_member_ids(excluded))
    return people


def assignment_preview(
    *,
    ebook: EBook,
    groups: GroupsArg,
    excluded_groups: GroupsArg = (),
    cap: int | None = None,
) -> AssignmentPreview:
    """Count, with SQL aggregates, what assigning the book to the groups would consume."""
    # Each count is its own query with the EXISTS in WHERE, where the database turns it into
    # one hash semi/anti-join; inside an aggregate's FILTER it would run once per person.
    # On PostgreSQL every join reads an index alone (person_active_id,
    # person_needs_invitation_id, apple_user_token_status, the membership unique index): a
    # 100,000-member group costs ~5,000 index pages instead of ~20,000 heap pages.
    holds = Exists(
        License.objects.filter(ebook=ebook, person=OuterRef("pk"), state__in=HELD_STATES)
    )
    joined = Exists(
        AppleUser.objects.filter(
            token_id=ebook.token_id, person=OuterRef("pk"), status=AppleUser.Status.ASSOCIATED
        )
    )
    people = targeted_people(groups=groups, excluded_groups=excluded_groups)
    counts = _counts(
        targeted=people,
        held=people.filter(holds),
        invite=people.filter(managed_apple_id="").exclude(joined),
    )
    pending = License.objects.filter(ebook=ebook, state=License.State.PENDING).count()
    needed = counts["targeted"] - counts["held"]
    # As the reconciler counts it: people who already hold the book use up the cap too.
    capped = needed if cap is None else min(needed, max(cap - counts["held"], 0))
    available = None if ebook.unlimited else max(ebook.available_count - pending, 0)
    will_consume = capped if available is None else min(capped, available)
    return AssignmentPreview(
        targeted=counts["targeted"],
        already_held=counts["held"],
        available=available,
        pending_elsewhere=pending,
        will_consume=will_consume,
        beyond_cap=needed - capped,
        short_of_licenses=capped - will_consume,
        need_invitation=counts["invite"],
        cap=cap,
    )


def _counts(**querysets: QuerySet) -> dict[str, int]:
    """Several COUNTs in one round trip, each planned on its own (semi/anti-joins stay joins)."""
    parts, params = [], []
    for queryset in querysets.values():
        sql, query_params = queryset.order_by().values("pk").query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted)")  # noqa: S608 - ORM SQL
        params.extend(query_params)
    with transaction.atomic(), connection.cursor() as cursor, _serial_plans(cursor):
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return dict(zip(querysets, row, strict=True))


@contextmanager
def _serial_plans(cursor) -> Iterator[None]:
    """No parallel workers for the statements inside (PostgreSQL; must run in a transaction).

    The preview's counts merge sorted index streams in one process (~120 ms for a
    100,000-member group). Left to itself the planner splits them into parallel hash joins that
    rebuild each hash per worker: ~280 ms and about three times the CPU on a busy machine.
    SET LOCAL is undone if the statement fails (the transaction or savepoint rolls back);
    otherwise the caller's own value is put back.
    """
    if connection.vendor != "postgresql":
        yield
        return
    cursor.execute(
        "SELECT current_setting('max_parallel_workers_per_gather'), "
        "set_config('max_parallel_workers_per_gather', '0', true)"
    )
    previous = cursor.fetchone()[0]
    yield
    cursor.execute("SELECT set_config('max_parallel_workers_per_gather', %s, true)", [previous])


def people_holding(*, ebook: EBook) -> set[int]:
    """Ids of people who hold the book or have it on its way (assigned or pending)."""
    return set(
        License.objects.filter(ebook=ebook, state__in=HELD_STATES).values_list(
            "person_id", flat=True
        )
    )


def people_covered(*, ebook_id: int) -> QuerySet[Person]:
    """Active people some assignment of the book still asks a license for (caps aside)."""
    covered = Q()
    for assignment in GroupAssignment.objects.filter(ebook_id=ebook_id).prefetch_related(
        "excluded_groups"
    ):
        part = Q(pk__in=_member_ids([assignment.group_id]))
        excluded = [group.pk for group in assignment.excluded_groups.all()]
        if excluded:
            part &= ~Q(pk__in=_member_ids(excluded))
        covered |= part
    if not covered:
        return Person.objects.none()
    return Person.objects.filter(covered, active=True)


def ebooks_assigned_to_groups(*, group_ids: Iterable[int]) -> set[int]:
    """Books whose assignments include or exclude any of the groups."""
    group_ids = list(group_ids)
    if not group_ids:
        return set()
    return set(
        GroupAssignment.objects.filter(
            Q(group_id__in=group_ids) | Q(excluded_groups__in=group_ids)
        ).values_list("ebook_id", flat=True)
    )


def ebooks_assigned_to_people(*, person_ids: Iterable[int]) -> set[int]:
    """Books assigned to (or excluded from) any group these people belong to."""
    group_ids = Membership.objects.filter(person_id__in=list(person_ids)).values("group_id")
    return set(
        GroupAssignment.objects.filter(
            Q(group_id__in=group_ids) | Q(excluded_groups__in=group_ids)
        ).values_list("ebook_id", flat=True)
    )


def token_ids_of_ebooks(*, ebook_ids: Iterable[int]) -> list[int]:
    """The tokens the books belong to, sorted."""
    return sorted(
        set(EBook.objects.filter(pk__in=list(ebook_ids)).values_list("token_id", flat=True))
    )


def device_models(*, limit: int = 200) -> list[str]:
    """The distinct device models, read by skipping along the model index (one probe each).

    SELECT DISTINCT would read all 400,000 devices on every page of the device list.
    """
    table = Device._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE models(model) AS ("  # noqa: S608 - our table
            f"SELECT MIN(model) FROM {table} WHERE model <> '' "
            f"UNION ALL SELECT (SELECT MIN(model) FROM {table} WHERE model > models.model) "
            "FROM models WHERE models.model IS NOT NULL"
            ") SELECT model FROM models WHERE model IS NOT NULL LIMIT %s",
            [limit],
        )
        return [model for (model,) in cursor.fetchall()]


def licenses_to_consume(*, ebook_ids: Iterable[int]) -> dict[int, int]:
    """Per book, how many licenses its assignments would use now that nobody holds yet.

    Uncapped assignments count their people once (their union); capped ones each count up to
    their cap, so overlapping capped groups can only make the number larger, never smaller.
    """
    consume: dict[int, int] = {}
    for ebook in EBook.objects.filter(pk__in=sorted(set(ebook_ids))):
        holds = Exists(
            License.objects.filter(ebook=ebook, person=OuterRef("pk"), state__in=HELD_STATES)
        )
        assignments = list(ebook.group_assignments.prefetch_related("excluded_groups"))
        uncapped = Q()
        needed = 0
        for assignment in assignments:
            part = Q(pk__in=_member_ids([assignment.group_id]))
            excluded = [group.pk for group in assignment.excluded_groups.all()]
            if excluded:
                part &= ~Q(pk__in=_member_ids(excluded))
            if assignment.cap is None:
                uncapped |= part
                continue
            counts = Person.objects.filter(part, active=True).aggregate(
                targeted=Count("pk"), held=Count("pk", filter=Q(holds))
            )
            needed += min(
                counts["targeted"] - counts["held"], max(assignment.cap - counts["held"], 0)
            )
        if uncapped:
            needed += Person.objects.filter(uncapped, active=True).exclude(holds).count()
        if not ebook.unlimited:
            pending = License.objects.filter(ebook=ebook, state=License.State.PENDING).count()
            needed = min(needed, max(ebook.available_count - pending, 0))
        consume[ebook.pk] = needed
    return consume
