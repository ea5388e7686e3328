"""Licenses a run has decided to ask for, gathered into Apple's requests.

Books going to exactly the same people share requests (maxAssets books each), so a step keeps
what it planned until a request is full. Gathered licenses are not written yet: each request
writes its own, with its key, just before it leaves (sync.reconcile.outbox). Until then they
count as in flight for their book (`gathered`), so a book planned in several slices is never
granted past its count. When a step's time is up before a request is full, the gathered
licenses are *held* for the run's next step instead of sent half full: their pending rows are
written marked with the run (`held:<run id>`, no Apple event) and the next step loads them
back. A held row takes its request's key in the statement that writes the request's other
rows (with its outbox event), so a crash never leaves a request Apple took behind a mark; rows
still held by a run that died were never sent, and the next run deletes them (its plan asks
for them again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from assignments.license_records import UserRow
from assignments.models import AppleUser, License
from ebooks.models import EBook
from tokens.models import VppToken

HELD_PREFIX = "held:"
_AFTER_HELD = "held;"  # the first string past every HELD_PREFIX one (":" + 1 is ";")
CHUNK = 5000


def held_marker(run_id: int) -> str:
    return f"{HELD_PREFIX}{run_id}"


@dataclass
class Grant:
    """Some books for some people: one group of requests."""

    users: list[UserRow]
    ebooks: list[EBook] = field(default_factory=list)
    fresh: list[EBook] = field(default_factory=list)  # added this step, not marked held yet


class Grants:
    def __init__(self, *, token: VppToken, run_id: int) -> None:
        self.token = token
        self.marker = held_marker(run_id)
        self.by_people: dict[frozenset[str], Grant] = {}
        self.people = 0  # people in all grants (each grant counted once)

    def __bool__(self) -> bool:
        return bool(self.by_people)

    def add(self, ebook: EBook, users: list[UserRow]) -> None:
        key = frozenset(u.client_user_id for u in users)
        grant = self.by_people.get(key)
        if grant is None:
            grant = self.by_people[key] = Grant(users=users)
            self.people += len(users)
        grant.ebooks.append(ebook)
        grant.fresh.append(ebook)

    def has(self, ebook_id: int) -> bool:
        return any(e.pk == ebook_id for g in self.by_people.values() for e in g.ebooks)

    def gathered(self, ebook_id: int) -> int:
        """Licenses of the book gathered but not written yet (held ones are written)."""
        return sum(
            len(g.users) for g in self.by_people.values() if any(e.pk == ebook_id for e in g.fresh)
        )

    def aligned(self, max_assets: int) -> bool:
        """Every grant fills its requests' asset lists (maxAssets books, or a multiple)."""
        return all(len(g.ebooks) % max_assets == 0 for g in self.by_people.values())

    def take(self) -> list[Grant]:
        grants = list(self.by_people.values())
        self.by_people, self.people = {}, 0
        return grants

    # --- held between steps ---------------------------------------------------------------

    def hold(self) -> None:
        """Keep every grant for the run's next step (only rows not marked yet are written)."""
        for grant in self.take():
            self._mark(grant.fresh, grant.users)

    def hold_rest(self, grant: Grant, users: Sequence[UserRow], ebooks: Sequence[EBook]) -> None:
        """Part of a grant was sent: keep these of its books for these people for the next
        step (held books are marked already)."""
        fresh = [e for e in ebooks if e in grant.fresh]
        if fresh and users:
            self._mark(fresh, users)

    def _mark(self, ebooks: Sequence[EBook], users: Sequence[UserRow]) -> None:
        from assignments import license_records as records

        records.licenses_requested(
            token=self.token, ebooks=ebooks, users=users, event_id=self.marker, at=timezone.now()
        )

    def load(self) -> None:
        """The grants the run's previous step held, grouped again by their people."""
        people: dict[int, set[int]] = {}
        users: dict[int, UserRow] = {}
        rows = (
            License.objects.filter(token=self.token, state=License.State.PENDING)
            .filter(event_id=self.marker)
            .values_list("ebook_id", "apple_user_id", "person_id", "apple_user__client_user_id")
            .order_by("apple_user_id")
        )
        for ebook_id, user_id, person_id, client_user_id in rows.iterator(chunk_size=CHUNK):
            people.setdefault(ebook_id, set()).add(user_id)
            if user_id not in users:
                users[user_id] = UserRow(
                    user_id,
                    person_id,
                    self.token.pk,
                    client_user_id,
                    AppleUser.Status.ASSOCIATED,
                    "",
                    "",
                    None,
                    "",
                    "",
                    "",
                )
        ebooks = EBook.objects.in_bulk(list(people))
        by_users: dict[frozenset[int], list[EBook]] = {}
        for ebook_id, user_ids in people.items():
            by_users.setdefault(frozenset(user_ids), []).append(ebooks[ebook_id])
        for user_ids, book_list in by_users.items():
            rows_of = [users[pk] for pk in sorted(user_ids)]
            key = frozenset(u.client_user_id for u in rows_of)
            self.by_people[key] = Grant(users=rows_of, ebooks=sorted(book_list, key=lambda e: e.pk))
            self.people += len(rows_of)


def held_by_other_runs_drop(*, token: VppToken, run_id: int) -> int:
    """Rows a dead run held were never sent: delete them, the plan asks for them again."""
    return held_by_other_runs(token=token, run_id=run_id).delete()[0]


def held_by_other_runs(*, token: VppToken, run_id: int) -> QuerySet[License]:
    """Pending rows other runs hold, read as a range of the pending-event index: every run
    start asks (the no-op one too). A LIKE cannot use that index outside the C collation, and
    the state index it fell back to is full of dead entries right after a big push (20-30 ms
    a run at a third of bench-assign's size, against under 1 ms); in other collations the
    range may hold more than the prefix, hence the prefix test as well."""
    return License.objects.filter(
        token=token,
        state=License.State.PENDING,
        event_id__gte=HELD_PREFIX,
        event_id__lt=_AFTER_HELD,
        event_id__startswith=HELD_PREFIX,
    ).exclude(event_id=held_marker(run_id))
