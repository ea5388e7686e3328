"""The reconciler's plan: who should hold each book (targets, caps, exclusions, intents).

Pure reads. The push (sync.reconcile) asks Apple for what the plan says is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from assignments.models import GroupAssignment
from assignments.selectors import people_holding, targeted_people
from ebooks.models import EBook
from tokens.models import VppToken

INTENT_RANK = {GroupAssignment.Intent.AVAILABLE: 1, GroupAssignment.Intent.REQUIRED: 2}


@dataclass
class BookPlan:
    """One book: the people its assignments cover (caps applied) and who lacks it."""

    ebook: EBook
    targeted: list[int] = field(default_factory=list)  # stable order, caps applied
    intents: dict[int, str] = field(default_factory=dict)  # strongest intent per person
    wanted: list[int] = field(default_factory=list)  # targeted people who hold nothing yet


# (group id, excluded group ids) → the active people it targets, in pk order.
TargetCache = dict[tuple[int, frozenset[int]], list[int]]


def book_plan(*, ebook: EBook, targets: TargetCache | None = None) -> BookPlan:
    """Who should hold the book and who of them does not yet (held = assigned or pending).

    `targets` keeps the people of each group between books planned together (one read per
    group, not per book); the caller makes a new one whenever memberships may have changed.
    """
    held = people_holding(ebook=ebook)
    ordered: dict[int, None] = {}
    intents: dict[int, str] = {}
    targets = {} if targets is None else targets
    for assignment in ebook.group_assignments.order_by("created_at", "pk").prefetch_related(
        "excluded_groups"
    ):
        excluded = frozenset(g.pk for g in assignment.excluded_groups.all())
        key = (assignment.group_id, excluded)
        if key not in targets:
            targets[key] = list(
                targeted_people(groups=[assignment.group_id], excluded_groups=excluded)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        people = targets[key]
        if assignment.cap is not None:
            # At most `cap` of the assignment's people hold the book, over all runs: those who
            # hold it already count, so members who join later cannot push past the cap.
            holding = sum(1 for pk in people if pk in held)
            new = [pk for pk in people if pk not in held and pk not in ordered]
            allowed = set(new[: max(assignment.cap - holding, 0)])
            people = [pk for pk in people if pk in held or pk in ordered or pk in allowed]
        for pk in people:
            ordered.setdefault(pk, None)
            if INTENT_RANK[assignment.intent] > INTENT_RANK.get(intents.get(pk), 0):
                intents[pk] = assignment.intent
    targeted = list(ordered)
    return BookPlan(
        ebook=ebook,
        targeted=targeted,
        intents=intents,
        wanted=[pk for pk in targeted if pk not in held],
    )


def books_to_plan(*, token: VppToken, after_pk: int = 0, batch: int = 200) -> Iterator[EBook]:
    """The token's assigned books still in the token, in pk order from a cursor, in pages."""
    while True:
        page = list(
            EBook.objects.filter(
                token=token, gone_at__isnull=True, pk__gt=after_pk, group_assignments__isnull=False
            )
            .distinct()
            .order_by("pk")[:batch]
        )
        yield from page
        if len(page) < batch:
            return
        after_pk = page[-1].pk
