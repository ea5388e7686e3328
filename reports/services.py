"""Writes of the read side: daily snapshots, their backfill, low-stock alerts and their email."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import islice

from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from assignments.models import License
from config.mail import header_safe, mails_send_later
from ebooks.models import EBook
from ebooks.selectors import ebook_is_low
from reports.models import BookSnapshot, StockAlert, StockThreshold, TokenSnapshot
from tokens.models import VppToken
from tokens.selectors import alert_recipients

logger = logging.getLogger(__name__)

BATCH = 5000
_COUNTS = ("total", "assigned", "available", "retired")


def snapshots_write(*, token_ids: list[int] | None = None, day: date | None = None) -> int:
    """Record today's counts of every book in the tokens (all tokens when None); idempotent."""
    day = day or timezone.localdate()
    books = EBook.objects.filter(gone_at__isnull=True)
    if token_ids is not None:
        books = books.filter(token_id__in=token_ids)
    rows = (
        BookSnapshot(
            ebook_id=pk,
            day=day,
            total=total,
            assigned=assigned,
            available=available,
            retired=retired,
        )
        for pk, total, assigned, available, retired in books.values_list(
            "pk", "total_count", "assigned_count", "available_count", "retired_count"
        ).iterator(chunk_size=BATCH)
    )
    written = _bulk_upsert(BookSnapshot, rows, unique=("ebook", "day"))
    tokens = VppToken.objects.all()
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    sums = {
        row["token_id"]: row
        for row in books.values("token_id")
        .annotate(
            books=Count("pk"),
            # Free books have no real limit (Apple reports a huge count): left out of totals.
            total=Sum("total_count", filter=Q(unlimited=False)),
            assigned=Sum("assigned_count"),
            available=Sum("available_count", filter=Q(unlimited=False)),
            retired=Sum("retired_count"),
        )
        .order_by()
    }
    token_rows = (
        TokenSnapshot(
            token_id=pk,
            day=day,
            books=sums.get(pk, {}).get("books") or 0,
            **{name: sums.get(pk, {}).get(name) or 0 for name in _COUNTS},
        )
        for pk in tokens.values_list("pk", flat=True)
    )
    _bulk_upsert(TokenSnapshot, token_rows, unique=("token", "day"))
    return written


def _bulk_upsert(model, rows: Iterator, *, unique: tuple[str, str]) -> int:
    written = 0
    fields = [name for name in (*_COUNTS, "books") if hasattr(model, name)]
    while batch := list(islice(rows, BATCH)):
        model.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=unique, update_fields=fields
        )
        written += len(batch)
    return written


def snapshots_backfill(*, days: int, today: date | None = None) -> int:
    """A plausible history of `days` days before today for every book (seed data, bulk written).

    Each book's assigned count climbs evenly from none to today's value; days already recorded
    are left alone. Used by `seed_scale` so charts and forecasts have a year to show. Returns
    the book-days covered.
    """
    today = today or timezone.localdate()
    books = list(
        EBook.objects.filter(gone_at__isnull=True).values_list(
            "pk", "token_id", "total_count", "assigned_count", "retired_count", "unlimited"
        )
    )

    def rows() -> Iterator[BookSnapshot]:
        for pk, _token_id, total, assigned, retired, _unlimited in books:
            for back in range(days, 0, -1):
                then = round(assigned * (days - back) / days)
                yield BookSnapshot(
                    ebook_id=pk,
                    day=today - timedelta(days=back),
                    total=total,
                    assigned=then,
                    available=max(0, total - then - retired),
                    retired=retired,
                )

    if connection.vendor == "postgresql":
        _backfill_in_sql(days=days, today=today)
    else:
        source = rows()
        while batch := list(islice(source, BATCH)):
            BookSnapshot.objects.bulk_create(batch, ignore_conflicts=True)
    token_days = []
    per_token: dict[int, list[tuple[int, int, int, bool]]] = {}
    for _pk, token_id, total, assigned, retired, unlimited in books:
        per_token.setdefault(token_id, []).append((total, assigned, retired, unlimited))
    for token_id, counts in per_token.items():
        # Free books count their holders but add nothing to the totals (as snapshots_write).
        total = sum(t for t, _, _, free in counts if not free)
        retired = sum(r for _, _, r, _ in counts)
        for back in range(days, 0, -1):
            then = [(round(a * (days - back) / days), free) for _, a, _, free in counts]
            assigned = sum(a for a, _ in then)
            limited = sum(a for a, free in then if not free)
            token_days.append(
                TokenSnapshot(
                    token_id=token_id,
                    day=today - timedelta(days=back),
                    books=len(counts),
                    total=total,
                    assigned=assigned,
                    available=max(0, total - limited - retired),
                    retired=retired,
                )
            )
    TokenSnapshot.objects.bulk_create(token_days, batch_size=BATCH, ignore_conflicts=True)
    return len(books) * days


def _backfill_in_sql(*, days: int, today: date) -> None:
    # One INSERT … SELECT: 2,000 books x 365 days never pass through Python objects.
    assigned = "round(e.assigned_count * (%(days)s - g.back)::numeric / %(days)s)::int"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {BookSnapshot._meta.db_table}
                (ebook_id, day, total, assigned, available, retired)
            SELECT e.id, %(today)s::date - g.back, e.total_count, {assigned},
                   greatest(0, e.total_count - {assigned} - e.retired_count), e.retired_count
            FROM {EBook._meta.db_table} e CROSS JOIN generate_series(1, %(days)s) AS g(back)
            WHERE e.gone_at IS NULL
            ON CONFLICT (ebook_id, day) DO NOTHING
            """,  # noqa: S608 - table names come from the models, values are parameters
            {"days": days, "today": today},
        )


# --- low-stock alerts -----------------------------------------------------------------------


def stock_alerts_check(
    *, token_ids: list[int] | None = None, now: datetime | None = None
) -> list[int]:
    """Raise an alert for each book that crossed its line since the last check; clear the rest.

    Once per crossing: an open alert stays open (and silent) until the book is back above the
    line. Returns the ids of new alerts, whose email goes out after commit.
    """
    now = now or timezone.now()
    # Every field ebook_is_low reads: a deferred one would cost a query per book.
    books = EBook.objects.filter(gone_at__isnull=True, unlimited=False).only(
        "pk",
        "token_id",
        "title",
        "adam_id",
        "pricing_param",
        "total_count",
        "available_count",
        "unlimited",
    )
    if token_ids is not None:
        books = books.filter(token_id__in=token_ids)
    thresholds = dict(StockThreshold.objects.values_list("ebook_id", "low_below"))
    # Index-only from the (ebook, state) index; a token's licenses go with it.
    short = dict(
        License.objects.filter(state=License.State.NOT_ENOUGH)
        .values_list("ebook_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    open_alerts = set(
        StockAlert.objects.filter(cleared_at__isnull=True).values_list("ebook_id", "kind")
    )
    raised, clear = [], {StockAlert.Kind.LOW: [], StockAlert.Kind.EMPTY: []}
    for book in books.iterator(chunk_size=BATCH):
        states = {
            StockAlert.Kind.LOW: ebook_is_low(ebook=book, low_below=thresholds.get(book.pk))
            or book.available_count == 0,
            StockAlert.Kind.EMPTY: book.available_count == 0 and short.get(book.pk, 0) > 0,
        }
        for kind, crossed in states.items():
            is_open = (book.pk, kind) in open_alerts
            if crossed and not is_open:
                raised.append(
                    StockAlert(
                        ebook_id=book.pk,
                        kind=kind,
                        available=book.available_count,
                        waiting=short.get(book.pk, 0),
                        raised_at=now,
                    )
                )
            elif is_open and not crossed:
                clear[kind].append(book.pk)
    for kind, ids in clear.items():
        if ids:
            StockAlert.objects.filter(ebook_id__in=ids, kind=kind, cleared_at__isnull=True).update(
                cleared_at=now
            )
    new_ids = []
    for alert in raised:
        try:
            with transaction.atomic():
                alert.save()
        except IntegrityError:
            continue  # another check raised it at the same moment: once per crossing
        new_ids.append(alert.pk)
    # Sent by the project's mail task after commit, with retries and EMAIL_TIMEOUT.
    mails_send_later(kind="stock_alert", ids=new_ids)
    return new_ids


def stock_alert_text(*, alert: StockAlert) -> tuple[str, str]:
    """Subject and body of a low-stock email."""
    book = alert.ebook
    link = reverse("admin:ebooks_ebook_change", args=[book.pk])
    if alert.kind == StockAlert.Kind.EMPTY:
        subject = f"Shelfkeeper: no licenses left for {book}, {alert.waiting} people waiting"
        first = (
            f"“{book}” has no licenses left and {alert.waiting} people are waiting for one. "
            "Buy more in Apple School Manager or Apple Business Manager; the portal hands them "
            "out after the next sync."
        )
    else:
        subject = f"Shelfkeeper: {book} is running low ({alert.available} left)"
        first = (
            f"“{book}” has {alert.available} of {book.total_count} licenses left. "
            "Book licenses cannot be taken back, so buy more before they run out."
        )
    return subject, f"{first}\n\nThe book's page in the portal: {link}\n"


def stock_alert_mail(alert_id: int) -> EmailMessage | None:
    """The email of one alert, built when the mail task sends it (None: nothing to send)."""
    alert = StockAlert.objects.select_related("ebook").filter(pk=alert_id).first()
    if alert is None or alert.mail_state == StockAlert.Mail.SENT:
        return None  # a retried task after a lost acknowledgement: never twice
    recipients = alert_recipients()
    if not recipients:
        StockAlert.objects.filter(pk=alert.pk).update(mail_state=StockAlert.Mail.NO_RECIPIENTS)
        return None
    StockAlert.objects.filter(pk=alert.pk).update(recipients=len(recipients))
    subject, body = stock_alert_text(alert=alert)
    return EmailMessage(header_safe(subject), body, None, recipients)


def stock_alert_mail_result(alert_id: int, error: str) -> None:
    """Record on the alert whether its email went out, or why not."""
    if error:
        StockAlert.objects.filter(pk=alert_id).update(
            mail_state=StockAlert.Mail.FAILED, mail_error=error[:300]
        )
        return
    StockAlert.objects.filter(pk=alert_id).update(
        mail_state=StockAlert.Mail.SENT, mailed_at=timezone.now(), mail_error=""
    )


def after_sync_record(*, token_id: int) -> None:
    """What a finished sync leaves behind here: today's snapshot and any stock crossing."""
    try:
        with transaction.atomic():
            snapshots_write(token_ids=[token_id])
            stock_alerts_check(token_ids=[token_id])
    except Exception:
        # History and alerts are secondary: a failure here never fails the sync.
        logger.exception("Could not record snapshots or stock alerts for token %s", token_id)
