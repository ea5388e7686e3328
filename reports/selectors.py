"""Reads behind the dashboards: every figure is one aggregate query, bounded at district scale."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from operator import itemgetter

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from assignments.models import (
    AppleUser,
    Device,
    GroupAssignment,
    InstallRequest,
    License,
    Person,
)
from assignments.selectors import HELD_STATES
from ebooks.models import EBook
from ebooks.selectors import ebook_is_low, ebook_stock_q
from reports.exports import queryset_rows
from reports.models import BookSnapshot, StockThreshold, TokenSnapshot
from tokens.models import VppToken

# People waiting for a license they are due: invited but not joined yet, or short of licenses.
WAITING_STATES = (License.State.WAITING_INVITATION, License.State.NOT_ENOUGH)
# Recent weeks the run-out forecast measures the assignment rate over.
FORECAST_WINDOW_DAYS = 28
CHART_PERIODS = (30, 90, 365)
FORECAST_CANDIDATES = 60
SHOWN = 20  # rows of a dashboard table; the full list is one click (and one export) away


def _token_ids() -> list[int]:
    # The license and Apple-user indexes lead with the token: naming every token lets them serve.
    return list(VppToken.objects.values_list("pk", flat=True))


# --- home dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    token: VppToken
    books: int
    total: int
    assigned: int
    available: int
    unlimited_books: int
    counts_as_of: datetime | None


def token_rows() -> list[TokenRow]:
    """Per token: books in it and their license totals (books no longer in the token left out)."""
    sums = {
        row["token_id"]: row
        for row in EBook.objects.filter(gone_at__isnull=True)
        .values("token_id")
        .annotate(
            books=Count("pk"),
            total=Sum("total_count", filter=Q(unlimited=False)),
            assigned=Sum("assigned_count"),
            available=Sum("available_count", filter=Q(unlimited=False)),
            unlimited_books=Count("pk", filter=Q(unlimited=True)),
            as_of=Min("counts_as_of"),
        )
        .order_by()
    }
    rows = []
    for token in VppToken.objects.order_by("name"):
        row = sums.get(token.pk, {})
        rows.append(
            TokenRow(
                token=token,
                books=row.get("books") or 0,
                total=row.get("total") or 0,
                assigned=row.get("assigned") or 0,
                available=row.get("available") or 0,
                unlimited_books=row.get("unlimited_books") or 0,
                counts_as_of=row.get("as_of"),
            )
        )
    return rows


def waiting_by_book(*, ebook_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Book id → {"not_enough": n, "waiting_invitation": n} for books with people waiting."""
    if ebook_ids is not None:
        # By book: the (ebook, state) index serves a list of books.
        licenses = License.objects.filter(ebook_id__in=ebook_ids, state__in=WAITING_STATES)
    else:
        licenses = License.objects.filter(token_id__in=_token_ids(), state__in=WAITING_STATES)
    waiting: dict[int, dict[str, int]] = {}
    # COUNT(*), not COUNT(id): the (ebook, state) index answers alone, no table read.
    for row in licenses.values("ebook_id", "state").annotate(n=Count("*")).order_by():
        waiting.setdefault(row["ebook_id"], {})[row["state"]] = row["n"]
    return waiting


@dataclass
class Dashboard:
    tokens: list[TokenRow]
    low_books: list[EBook]
    low_count: int
    empty_waiting: list[tuple[EBook, int]]  # (book, people short of a license)
    shortfall_people: int
    invitations_pending: int
    invitations_oldest: datetime | None
    invitations_by_age: list[tuple[str, int]]
    failed_licenses: int
    install_failures: int
    leavers: int
    forecasts: list[Forecast]
    as_of: datetime
    counts_as_of: datetime | None = None


def dashboard_read(*, now: datetime | None = None) -> Dashboard:
    """Every figure of the home dashboard."""
    now = now or timezone.now()
    tokens = _token_ids()
    # Cover bytes and descriptions stay in the database: the tables need neither.
    present = EBook.objects.filter(gone_at__isnull=True).defer("cover", "description")
    low = present.filter(ebook_stock_q(level="low")).select_related("token")
    low_count = low.count()
    # Licenses by state are counted from the partial index of the few licenses not
    # 'assigned' (state, id): index-only, where naming every token made the database read
    # each of 10,000 scattered rows. A token's licenses go with it, so no token filter is due.
    short = License.objects.filter(state=License.State.NOT_ENOUGH)
    # Books with anyone short of a license: one index probe a book, not a read of every row.
    has_shortfall = Exists(short.filter(ebook=OuterRef("pk")))
    empty = list(
        present.filter(ebook_stock_q(level="none"), has_shortfall)
        .select_related("token")
        .order_by("title")[:SHOWN]
    )
    empty_short = dict(
        short.filter(ebook_id__in=[book.pk for book in empty])
        .values_list("ebook_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    invitations = AppleUser.objects.filter(token_id__in=tokens, status=AppleUser.Status.REGISTERED)
    ages = invitations.aggregate(
        total=Count("pk"),
        oldest=Min("invitation_sent_at"),
        week=Count("pk", filter=Q(invitation_sent_at__gte=now - timedelta(days=7))),
        month=Count(
            "pk",
            filter=Q(
                invitation_sent_at__lt=now - timedelta(days=7),
                invitation_sent_at__gte=now - timedelta(days=30),
            ),
        ),
        older=Count("pk", filter=Q(invitation_sent_at__lt=now - timedelta(days=30))),
        unsent=Count("pk", filter=Q(invitation_sent_at__isnull=True)),
    )
    # The books nearest to running out: the forecast table shows the first 20 of them.
    books_for_forecast = list(
        present.filter(Q(ebook_stock_q(level="low")) | Q(has_shortfall), unlimited=False)
        .select_related("token")
        .order_by("available_count", "pk")[:FORECAST_CANDIDATES]
    )
    forecasts = sorted(
        forecasts_read(ebooks=books_for_forecast, today=now.date()),
        key=lambda f: (f.runs_out_on or date.max, -f.to_buy),
    )[:SHOWN]
    return Dashboard(
        tokens=token_rows(),
        low_books=list(low.order_by("available_count", "title")[:SHOWN]),
        low_count=low_count,
        empty_waiting=[(book, empty_short.get(book.pk, 0)) for book in empty],
        shortfall_people=short.count(),
        invitations_pending=ages["total"],
        invitations_oldest=ages["oldest"],
        invitations_by_age=[
            ("sent in the last 7 days", ages["week"]),
            ("sent 7 to 30 days ago", ages["month"]),
            ("sent more than 30 days ago", ages["older"]),
            ("not sent yet", ages["unsent"]),
        ],
        failed_licenses=License.objects.filter(state=License.State.FAILED).count(),
        install_failures=InstallRequest.objects.filter(state=InstallRequest.State.FAILED).count(),
        leavers=leavers().count(),
        forecasts=forecasts,
        as_of=now,
        counts_as_of=present.aggregate(as_of=Min("counts_as_of"))["as_of"],
    )


# --- history and forecast -------------------------------------------------------------------


def book_history(*, ebook: EBook, days: int, today: date | None = None) -> list[BookSnapshot]:
    """The book's daily snapshots over the last `days` days, oldest first."""
    today = today or timezone.localdate()
    return list(
        BookSnapshot.objects.filter(ebook=ebook, day__gt=today - timedelta(days=days)).order_by(
            "day"
        )
    )


def token_history(*, token: VppToken, days: int, today: date | None = None) -> list:
    """The token's daily totals over the last `days` days, oldest first."""
    today = today or timezone.localdate()
    return list(
        TokenSnapshot.objects.filter(token=token, day__gt=today - timedelta(days=days)).order_by(
            "day"
        )
    )


@dataclass(frozen=True)
class Forecast:
    ebook: EBook
    available: int
    waiting: int  # people targeted but unlicensed (short of licenses or yet to join)
    per_day: float  # licenses assigned per day over the recent weeks
    runs_out_on: date | None  # None: not at the current rate (or the book is unlimited)
    to_buy: int  # licenses to buy so everyone targeted gets one

    @property
    def sentence(self) -> str:
        """'buy 40 more of X before 12 March', or why nothing needs buying."""
        title = str(self.ebook)
        if self.ebook.unlimited:
            return f"{title} is free: Apple sets no limit."
        when = f" before {self.runs_out_on:%-d %B %Y}" if self.runs_out_on else ""
        if self.to_buy:
            if self.available == 0:
                return f"Buy {self.to_buy} more of {title} now: none left, people waiting."
            return f"Buy {self.to_buy} more of {title}{when}."
        if self.runs_out_on:
            return f"{title} runs out around {self.runs_out_on:%-d %B %Y} at the current rate."
        return f"{title}: enough licenses at the current rate."


def forecasts_read(*, ebooks: list[EBook], today: date | None = None) -> list[Forecast]:
    """Run-out forecasts for the books: two queries whatever the number of books."""
    today = today or timezone.localdate()
    ids = [book.pk for book in ebooks]
    start = today - timedelta(days=FORECAST_WINDOW_DAYS)
    # The oldest snapshot inside the window: the assigned count the rate is measured from.
    first_day = dict(
        BookSnapshot.objects.filter(ebook_id__in=ids, day__gte=start)
        .values_list("ebook_id")
        .annotate(first=Min("day"))
        .order_by()
    )
    base = {
        (ebook_id, day): assigned
        for ebook_id, day, assigned in BookSnapshot.objects.filter(
            ebook_id__in=ids, day__in=set(first_day.values())
        ).values_list("ebook_id", "day", "assigned")
    }
    waiting = waiting_by_book(ebook_ids=ids)
    return [
        forecast_compute(
            ebook=book,
            today=today,
            first_day=first_day.get(book.pk),
            first_assigned=base.get((book.pk, first_day.get(book.pk))),
            waiting=sum(waiting.get(book.pk, {}).values()),
        )
        for book in ebooks
    ]


def forecast_compute(
    *,
    ebook: EBook,
    today: date,
    first_day: date | None,
    first_assigned: int | None,
    waiting: int,
) -> Forecast:
    """The forecast from the book's counts now and its assigned count at the window's start."""
    per_day = 0.0
    if first_day is not None and first_assigned is not None and first_day < today:
        per_day = max(0, ebook.assigned_count - first_assigned) / (today - first_day).days
    available = ebook.available_count
    if ebook.unlimited:
        return Forecast(ebook, available, waiting, per_day, None, 0)
    if available == 0:
        runs_out = today
    elif per_day > 0:
        runs_out = today + timedelta(days=int(available / per_day))
    else:
        runs_out = None
    return Forecast(ebook, available, waiting, per_day, runs_out, max(0, waiting - available))


# --- book page ------------------------------------------------------------------------------


@dataclass
class BookReport:
    ebook: EBook
    low: bool
    low_below: int | None
    states: dict[str, int]
    held: int
    kept: int
    waiting_invitation: int
    shortfall: int
    failed: int
    assignments: list[GroupAssignment]
    waiting_people: list[License]
    installs_by_state: dict[str, int]
    install_people: dict[str, int]

    @property
    def install_rows(self) -> list[tuple[str, str, int, int]]:
        """(state, label, devices, people) for every install state, in the model's order."""
        return [
            (state, label, self.installs_by_state.get(state, 0), self.install_people[state])
            for state, label in InstallRequest.State.choices
        ]

    forecast: Forecast


def book_report(*, ebook: EBook, today: date | None = None) -> BookReport:
    """What the book page shows besides the book's own fields."""
    licenses = License.objects.filter(ebook=ebook)
    states = dict(licenses.values_list("state").annotate(n=Count("pk")).order_by())
    kept = licenses.filter(kept=True, state__in=HELD_STATES).count()
    threshold = StockThreshold.objects.filter(ebook=ebook).values_list("low_below", flat=True)
    low_below = threshold[0] if threshold else None
    installs = InstallRequest.objects.filter(ebook=ebook)
    by_state = dict(installs.values_list("state").annotate(n=Count("pk")).order_by())
    install_people = installs.aggregate(
        **{
            state: Count("person_id", distinct=True, filter=Q(state=state))
            for state in InstallRequest.State.values
        }
    )
    held = sum(states.get(state, 0) for state in HELD_STATES)
    # Holders with no device reporting the book yet (Available books are installed by hand).
    install_people["not_installed"] = max(0, held - install_people[InstallRequest.State.INSTALLED])
    waiting = states.get(License.State.WAITING_INVITATION, 0)
    short = states.get(License.State.NOT_ENOUGH, 0)
    forecast = forecasts_read(ebooks=[ebook], today=today)[0]
    return BookReport(
        ebook=ebook,
        low=ebook_is_low(ebook=ebook, low_below=low_below),
        low_below=low_below,
        states=states,
        held=held,
        kept=kept,
        waiting_invitation=waiting,
        shortfall=short,
        failed=states.get(License.State.FAILED, 0),
        assignments=list(
            GroupAssignment.objects.filter(ebook=ebook)
            .select_related("group")
            .prefetch_related("excluded_groups")
            .order_by("group__name")[:100]
        ),
        waiting_people=list(
            licenses.filter(state__in=WAITING_STATES)
            .select_related("person", "apple_user")
            .order_by("updated_at")[:SHOWN]
        ),
        installs_by_state=by_state,
        install_people=install_people,
        forecast=forecast,
    )


# --- people ---------------------------------------------------------------------------------


def leavers() -> QuerySet[Person]:
    """Inactive people who still hold book licenses (kept for good: licenses are not reclaimed)."""
    holds = License.objects.filter(person=OuterRef("pk"), state__in=HELD_STATES)
    return Person.objects.filter(Exists(holds), active=False)


TITLES_SHOWN = 10  # per leaver; the ledger and the license list have the rest


def leavers_with_holdings(*, limit: int = 100) -> list[Person]:
    """Leavers with the count and first titles of what they hold (three small queries).

    The page's people first, then their holdings by the (person, state) index: counting
    through a join over every license before the limit read the whole table.
    """
    people = list(leavers().order_by("email")[:limit])
    _holdings_attach(people, per_person=TITLES_SHOWN)
    return people


def _holdings_attach(people: list[Person], *, per_person: int) -> None:
    """Set .held (licenses held) and .held_titles on each person."""
    held = dict(
        License.objects.filter(person__in=[p.pk for p in people], state__in=HELD_STATES)
        .values_list("person_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    for person in people:
        person.held = held.get(person.pk, 0)
    _titles_attach(people, per_person=per_person)


def _titles_attach(people: list[Person], *, per_person: int) -> None:
    """Set .held_titles on each person: the first per_person titles of the books they hold."""
    # A window keeps each person's first few titles in the database, not in Python.
    licences = (
        License.objects.filter(person__in=[p.pk for p in people], state__in=HELD_STATES)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("person_id"), order_by=F("ebook__title").asc())
        )
        .filter(rank__lte=per_person)
    )
    titles: dict[int, list[str]] = {}
    for person_id, title, adam_id in licences.values_list(
        "person_id", "ebook__title", "ebook__adam_id"
    ):
        titles.setdefault(person_id, []).append(title or adam_id)
    for person in people:
        person.held_titles = sorted(titles.get(person.pk, []))


@dataclass(frozen=True)
class LedgerRow:
    licence: License
    assignments: list[GroupAssignment]
    installs: list[InstallRequest]


def person_ledger(*, person: Person) -> list[LedgerRow]:
    """Every book the person holds or was due: token, since when, which assignment, installs."""
    licences = list(
        License.objects.filter(person=person)
        .select_related("ebook", "token", "apple_user")
        .order_by("ebook__title", "pk")
    )
    books = [licence.ebook_id for licence in licences]
    group_ids = set(person.memberships.values_list("group_id", flat=True))
    through: dict[int, list[GroupAssignment]] = {}
    for assignment in GroupAssignment.objects.filter(
        ebook_id__in=books, group_id__in=group_ids
    ).select_related("group"):
        through.setdefault(assignment.ebook_id, []).append(assignment)
    installs: dict[int, list[InstallRequest]] = {}
    for install in InstallRequest.objects.filter(person=person, ebook_id__in=books).select_related(
        "device"
    ):
        installs.setdefault(install.ebook_id, []).append(install)
    return [
        LedgerRow(
            licence=licence,
            assignments=through.get(licence.ebook_id, []),
            installs=installs.get(licence.ebook_id, []),
        )
        for licence in licences
    ]


def person_devices(*, person: Person) -> list[Device]:
    """The person's devices, for the ledger's install column header."""
    return list(Device.objects.filter(owner=person).order_by("serial_number"))


# --- token page -----------------------------------------------------------------------------


def token_books(*, token: VppToken, limit: int = 50) -> list[EBook]:
    """The token's books with the most licenses handed out first."""
    return list(
        EBook.objects.filter(token=token, gone_at__isnull=True)
        .defer("cover", "description")
        .order_by("-assigned_count", "title")[:limit]
    )


@dataclass(frozen=True)
class Leaver:
    email: str
    display_name: str
    held: int  # licenses held
    held_titles: list[str]  # every one, sorted


def leavers_iter(*, chunk: int = 1000) -> Iterator[Leaver]:
    """Every leaver with count and titles (for the CSV export), a chunk of people at a time.

    Each chunk is a range of inactive people's emails, and one query reads their held
    licenses: a range the planner sees as small, so it probes the (person, state) index for
    each person instead of scanning every license; and no list of thousands of ids to pass
    (splitting those into parameters was half the export's CPU).
    """
    inactive = Person.objects.filter(active=False)
    columns = (
        ("", "person_id"),
        ("", "person__email"),
        ("", "person__display_name"),
        ("", "ebook__title"),
        ("", "ebook__adam_id"),
    )
    last = None
    while True:
        after = inactive.filter(email__gt=last) if last is not None else inactive
        upto = after.order_by("email").values_list("email", flat=True)[chunk - 1 : chunk].first()
        people = after.filter(email__lte=upto) if upto is not None else after
        licences = License.objects.filter(
            state__in=HELD_STATES, person__in=people.values("pk")
        ).order_by("person__email", "person_id")
        for _, rows in groupby(queryset_rows(licences, columns), key=itemgetter(0)):
            rows = list(rows)
            _, email, display_name, _, _ = rows[0]
            titles = sorted(title or adam_id for *_, title, adam_id in rows)
            yield Leaver(email, display_name, len(rows), titles)
        if upto is None:
            return
        last = upto
