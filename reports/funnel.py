"""The invitation funnel: targeted → registered → accepted → licensed → installed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, FilteredRelation, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from assignments.models import (
    AppleUser,
    GroupAssignment,
    InstallRequest,
    License,
    Membership,
    Person,
    UserGroup,
)
from assignments.selectors import HELD_STATES, people_covered, targeted_people
from ebooks.models import EBook

STEPS = (
    ("targeted", "Targeted", "in a group the book is assigned to"),
    ("registered", "Registered", "registered with Apple, invitation sent"),
    ("accepted", "Accepted", "joined the programme (or has a managed Apple ID)"),
    ("licensed", "Licensed", "holds a license"),
    ("installed", "Installed", "the book is on one of their devices"),
)
STUCK_SHOWN = 100
# Above this many people stuck at a step, the list is in email order rather than by time.
SORT_BY_SINCE_UP_TO = 5000


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    meaning: str
    reached: int
    stuck: int  # reached this step and not the next one
    percent: int  # of the targeted


def _people(*, ebook: EBook, group: UserGroup | None) -> QuerySet[Person]:
    if group is None:
        return people_covered(ebook_id=ebook.pk)
    assignment = (
        GroupAssignment.objects.filter(ebook=ebook, group=group)
        .prefetch_related("excluded_groups")
        .first()
    )
    excluded = list(assignment.excluded_groups.all()) if assignment else []
    return targeted_people(groups=[group], excluded_groups=excluded)


# Registered with Apple for the book's token: invited, or joined already.
INVITED_STATUSES = (AppleUser.Status.REGISTERED, AppleUser.Status.ASSOCIATED)


def _with_apple_user(people: QuerySet[Person], *, ebook: EBook) -> QuerySet[Person]:
    """The people with their live Apple user of the book's token joined in as `invited`.

    A LEFT JOIN, one row a person: a person has at most one Apple user per token that is not
    retired (the apple_user_one_per_person_token constraint). A join the database hashes once,
    where a subquery inside each step's count would be probed again for every person.
    """
    return people.annotate(
        invited=FilteredRelation(
            "apple_users",
            condition=Q(
                apple_users__token_id=ebook.token_id, apple_users__status__in=INVITED_STATUSES
            ),
        )
    )


def _step_q(*, ebook: EBook) -> dict[str, Q]:
    """Step → who has reached it, on people annotated by _with_apple_user.

    Each step includes the ones before it, so the funnel only ever narrows.
    """
    registered = Q(invited__isnull=False)
    accepted = registered & (
        Q(invited__status=AppleUser.Status.ASSOCIATED) | ~Q(managed_apple_id="")
    )
    licensed = accepted & Q(pk__in=_licensed_ids(ebook=ebook))
    return {
        "targeted": Q(),
        "registered": registered,
        "accepted": accepted,
        "licensed": licensed,
        "installed": licensed & Q(pk__in=_installed_ids(ebook=ebook)),
    }


def _stuck_q(*, ebook: EBook) -> dict[str, Q]:
    """Step → who reached it and not the next one, said positively: a negated join would be
    rewritten as a subquery run once per person."""
    reached = _step_q(ebook=ebook)
    return {
        # NOT IN a hashed list: the planner misjudges a LEFT JOIN's IS NULL as one row.
        "targeted": ~Q(pk__in=_invited_ids(ebook=ebook)),
        "registered": Q(invited__status=AppleUser.Status.REGISTERED, managed_apple_id=""),
        "accepted": reached["accepted"] & ~Q(pk__in=_licensed_ids(ebook=ebook)),
        "licensed": reached["licensed"] & ~Q(pk__in=_installed_ids(ebook=ebook)),
    }


def _invited_ids(*, ebook: EBook) -> QuerySet:
    return AppleUser.objects.filter(
        token_id=ebook.token_id, status__in=INVITED_STATUSES, person__isnull=False
    ).values("person_id")


def _licensed_ids(*, ebook: EBook) -> QuerySet:
    return License.objects.filter(ebook=ebook, state__in=HELD_STATES, person__isnull=False).values(
        "person_id"
    )


def _installed_ids(*, ebook: EBook) -> QuerySet:
    return InstallRequest.objects.filter(
        ebook=ebook, state=InstallRequest.State.INSTALLED, person__isnull=False
    ).values("person_id")


def funnel_read(*, ebook: EBook, group: UserGroup | None = None) -> list[Step]:
    """Counts at each step for the book's targeted people (of one group, when given).

    Two queries: one pass over the targeted people (100,000 in the largest group) for the
    first three steps, and one from the book's few license holders for the last two.
    """
    people = _with_apple_user(_people(ebook=ebook, group=group), ebook=ebook)
    steps = _step_q(ebook=ebook)
    reached = people.aggregate(
        targeted=Count("pk"),
        registered=Count("pk", filter=steps["registered"]),
        accepted=Count("pk", filter=steps["accepted"]),
    )
    reached |= people.filter(pk__in=_licensed_ids(ebook=ebook)).aggregate(
        licensed=Count("pk", filter=steps["accepted"]),
        installed=Count("pk", filter=steps["accepted"] & Q(pk__in=_installed_ids(ebook=ebook))),
    )
    targeted = reached["targeted"]
    steps = []
    for index, (key, label, meaning) in enumerate(STEPS):
        # Those at the last step are done, not stuck.
        following = reached[STEPS[index + 1][0]] if index + 1 < len(STEPS) else reached[key]
        percent = round(100 * reached[key] / targeted) if targeted else 0
        steps.append(Step(key, label, meaning, reached[key], reached[key] - following, percent))
    return steps


def _since(*, ebook: EBook, step: str):
    """When the person got stuck at the step: the last thing that moved them forward."""
    licence = License.objects.filter(ebook=ebook, person=OuterRef("pk"))
    if step == "targeted":
        groups = GroupAssignment.objects.filter(ebook=ebook).values("group_id")
        added = (
            Membership.objects.filter(person=OuterRef("pk"), group_id__in=groups)
            .values("person")
            .annotate(first=Min("added_at"))
            .values("first")
        )
        return Subquery(added)
    if step == "registered":
        return F("invited__invitation_sent_at")
    if step == "accepted":
        return Coalesce(Subquery(licence.values("updated_at")[:1]), F("invited__updated_at"))
    return Subquery(licence.values("assigned_at")[:1])


@dataclass(frozen=True)
class StuckPage:
    people: list[Person]
    by_since: bool
    next_after: str  # the keyset of the next page ("" on the last one)


def stuck_page(
    *, ebook: EBook, group: UserGroup | None, step: str, crowd: int, after: str = ""
) -> StuckPage:
    """One page of the people stuck at the step, from a keyset: never more than a page read.

    Up to SORT_BY_SINCE_UP_TO people come longest stuck first, keyed by (since, email);
    a bigger crowd comes in email order, keyed by email. Raises ValueError on a bad keyset.
    """
    by_since = crowd <= SORT_BY_SINCE_UP_TO
    people = stuck_people(ebook=ebook, group=group, step=step, limit=None, by_since=by_since)
    if isinstance(people, list):  # the last step: nobody is stuck there
        return StuckPage([], by_since, "")
    if after:
        people = people.filter(_after_q(after, by_since=by_since))
    rows = list(people[: STUCK_SHOWN + 1])
    shown = rows[:STUCK_SHOWN]
    next_after = _keyset(shown[-1], by_since=by_since) if len(rows) > STUCK_SHOWN else ""
    return StuckPage(shown, by_since, next_after)


def _keyset(person: Person, *, by_since: bool) -> str:
    if not by_since:
        return person.email
    return f"{person.since.isoformat() if person.since else ''}|{person.email}"


def _after_q(after: str, *, by_since: bool) -> Q:
    """The rows after the keyset in the list's order (since ascending, no time last; email)."""
    if not by_since:
        return Q(email__gt=after)
    since_text, separator, email = after.partition("|")
    if not separator:
        raise ValueError("bad keyset")
    if not since_text:  # inside the tail of people with no time
        return Q(since__isnull=True, email__gt=email)
    since = datetime.fromisoformat(since_text)
    return Q(since__gt=since) | Q(since=since, email__gt=email) | Q(since__isnull=True)


def stuck_people(
    *,
    ebook: EBook,
    group: UserGroup | None,
    step: str,
    limit: int | None = STUCK_SHOWN,
    by_since: bool = True,
):
    """The people who reached the step and not the next one, longest stuck first.

    Without by_since they come in email order: sorting a huge crowd by a per-person time
    would read all of it before the first row. Without a limit, a queryset to slice or
    filter further.
    """
    keys = [key for key, *_ in STEPS]
    if step not in keys or step == keys[-1]:
        return []
    people = _with_apple_user(_people(ebook=ebook, group=group), ebook=ebook)
    people = people.filter(_stuck_q(ebook=ebook)[step])
    people = people.annotate(since=_since(ebook=ebook, step=step))
    if by_since:
        people = people.order_by(F("since").asc(nulls_last=True), "email")
    else:
        people = people.order_by("email")
    return people[:limit] if limit else people


def funnel_csv_rows(*, ebook: EBook, group: UserGroup | None, funnel: list[Step]) -> Iterator:
    """Every stuck person at every step, for the CSV export."""
    for step in funnel[:-1]:
        people = stuck_people(ebook=ebook, group=group, step=step.key, limit=None, by_since=False)
        for person in people.iterator(chunk_size=2000):
            yield (
                step.label,
                step.reached,
                step.stuck,
                person.email,
                person.display_name,
                person.since,
            )


def funnel_groups(*, ebook: EBook) -> list[GroupAssignment]:
    """The book's assignments, to pick one group's funnel."""
    return list(
        GroupAssignment.objects.filter(ebook=ebook)
        .select_related("group")
        .order_by("group__name")[:100]
    )


GROUP_BOOKS_SHOWN = 100


def funnel_by_book(*, group: UserGroup) -> list[tuple[GroupAssignment, list[int]]]:
    """Each book assigned to the group: how many active members reached each step.

    A handful of grouped counts for all the books at once (a 100,000-member group with 25
    books stays fast), each step counted on its own; the book's own funnel page counts them
    cumulatively and lists who is stuck. Members an assignment excludes are counted by one
    more grouped query over the excluded people alone and taken off their book's row.
    """
    assignments = list(
        GroupAssignment.objects.filter(group=group)
        .select_related("ebook")
        .defer("ebook__cover", "ebook__description")  # cover bytes stay in the database
        .annotate(exclusions=Count("excluded_groups"))
        .order_by("ebook__title")[:GROUP_BOOKS_SHOWN]
    )
    if not assignments:
        return []
    members = Membership.objects.filter(group=group)
    # Those who left are few: counting them off the group's index-only count is cheaper
    # than checking 100,000 people one by one for being active.
    targeted = members.count() - members.filter(person__active=False).count()
    # "In the group" as a plain index-only list and "active" on the row's own person join:
    # the two together in one subquery made the database hash all 300,000 people.
    in_group = members.values("person_id")
    books = [a.ebook_id for a in assignments]
    # At most one live Apple user per person and token: a plain count, no DISTINCT.
    by_token = {
        row["token_id"]: row
        for row in AppleUser.objects.filter(
            token_id__in={a.ebook.token_id for a in assignments},
            person_id__in=in_group,
            person__active=True,
            status__in=INVITED_STATUSES,
        )
        .values("token_id")
        .annotate(
            registered=Count("pk"),
            accepted=Count(
                "pk",
                filter=Q(status=AppleUser.Status.ASSOCIATED) | ~Q(person__managed_apple_id=""),
            ),
        )
        .order_by()
    }
    licensed = _per_book(
        License.objects.filter(
            ebook_id__in=books,
            state__in=HELD_STATES,
            person_id__in=in_group,
            person__active=True,
        )
    )
    installed = _per_book(
        InstallRequest.objects.filter(
            ebook_id__in=books,
            state=InstallRequest.State.INSTALLED,
            person_id__in=in_group,
            person__active=True,
        )
    )
    left_out = _excluded_counts([a.pk for a in assignments if a.exclusions])
    rows = []
    for assignment in assignments:
        token = by_token.get(assignment.ebook.token_id, {})
        counts = [
            targeted,
            token.get("registered", 0),
            token.get("accepted", 0),
            licensed.get(assignment.ebook_id, 0),
            installed.get(assignment.ebook_id, 0),
        ]
        off = left_out.get(assignment.pk, [0] * len(counts))
        rows.append((assignment, [n - m for n, m in zip(counts, off, strict=True)]))
    return rows


def _per_book(queryset) -> dict[int, int]:
    return dict(
        queryset.values_list("ebook_id").annotate(n=Count("person_id", distinct=True)).order_by()
    )


def _excluded_counts(assignment_ids: list[int]) -> dict[int, list[int]]:
    """Assignment id → the step counts of the group's active members it excludes.

    One query for every assignment with exclusions, read from the excluded people (a person
    in two excluded groups counted once), the same steps as funnel_by_book counts.
    """
    if not assignment_ids:
        return {}
    excluded = GroupAssignment.excluded_groups.through

    def listed(values) -> str:  # one placeholder a value: SQLite binds no tuples
        return ", ".join(["%s"] * len(values))

    held, invited = list(HELD_STATES), list(INVITED_STATUSES)
    sql = f"""
        SELECT left_out.assignment_id,
               count(*),
               count(au.id),
               count(au.id) FILTER (WHERE au.status = %s OR p.managed_apple_id <> ''),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM {License._meta.db_table} l
                   WHERE l.ebook_id = left_out.ebook_id AND l.person_id = p.id
                     AND l.state IN ({listed(held)}))),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM {InstallRequest._meta.db_table} i
                   WHERE i.ebook_id = left_out.ebook_id AND i.person_id = p.id
                     AND i.state = %s))
        FROM (
            SELECT DISTINCT a.id AS assignment_id, a.ebook_id, e.token_id, mx.person_id
            FROM {GroupAssignment._meta.db_table} a
            JOIN {EBook._meta.db_table} e ON e.id = a.ebook_id
            JOIN {excluded._meta.db_table} x ON x.groupassignment_id = a.id
            JOIN {Membership._meta.db_table} mx ON mx.group_id = x.usergroup_id
            JOIN {Membership._meta.db_table} mg
                ON mg.group_id = a.group_id AND mg.person_id = mx.person_id
            WHERE a.id IN ({listed(assignment_ids)})
        ) AS left_out
        JOIN {Person._meta.db_table} p ON p.id = left_out.person_id AND p.active
        LEFT JOIN {AppleUser._meta.db_table} au
            ON au.person_id = p.id AND au.token_id = left_out.token_id
            AND au.status IN ({listed(invited)})
        GROUP BY left_out.assignment_id
    """  # noqa: S608 - table names come from the models, values are parameters
    params = [AppleUser.Status.ASSOCIATED, *held, InstallRequest.State.INSTALLED]
    params += [*assignment_ids, *invited]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: list(row[1:]) for row in cursor.fetchall()}
