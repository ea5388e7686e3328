"""The invitation funnel: targeted → registered → accepted → licensed → installed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery
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


def _annotated(*, ebook: EBook, group: UserGroup | None) -> QuerySet[Person]:
    users = AppleUser.objects.filter(token_id=ebook.token_id, person=OuterRef("pk"))
    registered = Exists(
        users.filter(status__in=(AppleUser.Status.REGISTERED, AppleUser.Status.ASSOCIATED))
    )
    joined = Exists(users.filter(status=AppleUser.Status.ASSOCIATED))
    licensed = Exists(
        License.objects.filter(ebook=ebook, person=OuterRef("pk"), state__in=HELD_STATES)
    )
    installed = Exists(
        InstallRequest.objects.filter(
            ebook=ebook, person=OuterRef("pk"), state=InstallRequest.State.INSTALLED
        )
    )
    # Each step includes the ones before it, so the funnel only ever narrows.
    return _people(ebook=ebook, group=group).annotate(
        s_registered=registered,
        s_accepted=Q(registered) & (Q(joined) | ~Q(managed_apple_id="")),
        s_licensed=Q(registered) & (Q(joined) | ~Q(managed_apple_id="")) & Q(licensed),
        s_installed=Q(registered)
        & (Q(joined) | ~Q(managed_apple_id=""))
        & Q(licensed)
        & Q(installed),
    )


def funnel_read(*, ebook: EBook, group: UserGroup | None = None) -> list[Step]:
    """Counts at each step for the book's targeted people (of one group, when given)."""
    counts = _annotated(ebook=ebook, group=group).aggregate(
        targeted=Count("pk"),
        **{key: Count("pk", filter=Q(**{f"s_{key}": True})) for key, *_ in STEPS[1:]},
    )
    steps = []
    for index, (key, label, meaning) in enumerate(STEPS):
        reached = counts[key] or 0
        # Those at the last step are done, not stuck.
        following = counts[STEPS[index + 1][0]] if index + 1 < len(STEPS) else reached
        targeted = counts["targeted"] or 0
        steps.append(
            Step(
                key,
                label,
                meaning,
                reached,
                reached - (following or 0),
                round(100 * reached / targeted) if targeted else 0,
            )
        )
    return steps


def _since(*, ebook: EBook, step: str):
    """When the person got stuck at the step: the last thing that moved them forward."""
    users = AppleUser.objects.filter(token_id=ebook.token_id, person=OuterRef("pk")).exclude(
        status=AppleUser.Status.RETIRED
    )
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
        return Subquery(users.values("invitation_sent_at")[:1])
    if step == "accepted":
        return Coalesce(
            Subquery(licence.values("updated_at")[:1]), Subquery(users.values("updated_at")[:1])
        )
    return Subquery(licence.values("assigned_at")[:1])


def stuck_people(
    *, ebook: EBook, group: UserGroup | None, step: str, limit: int | None = STUCK_SHOWN
):
    """The people who reached the step and not the next one, longest stuck first."""
    keys = [key for key, *_ in STEPS]
    if step not in keys or step == keys[-1]:
        return []
    index = keys.index(step)
    people = _annotated(ebook=ebook, group=group)
    if index > 0:
        people = people.filter(**{f"s_{step}": True})
    people = people.filter(**{f"s_{keys[index + 1]}": False}).annotate(
        since=_since(ebook=ebook, step=step)
    )
    people = people.order_by(F("since").asc(nulls_last=True), "email")
    return people[:limit] if limit else people.iterator(chunk_size=2000)


def funnel_csv_rows(*, ebook: EBook, group: UserGroup | None, funnel: list[Step]) -> Iterator:
    """Every stuck person at every step, for the CSV export."""
    for step in funnel[:-1]:
        for person in stuck_people(ebook=ebook, group=group, step=step.key, limit=None):
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


GROUP_BOOKS_SHOWN = 12  # one aggregate query per book keeps the page under 30 queries


def funnel_by_book(*, group: UserGroup) -> list[tuple[GroupAssignment, list[Step]]]:
    """The funnel of each book assigned to the group, restricted to its members."""
    assignments = (
        GroupAssignment.objects.filter(group=group)
        .select_related("ebook")
        .order_by("ebook__title")[:GROUP_BOOKS_SHOWN]
    )
    return [(a, funnel_read(ebook=a.ebook, group=group)) for a in assignments]
