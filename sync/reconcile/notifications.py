"""Apple's notifications (APPLE_API.md §2.8): registered per token when PUBLIC_URL is set,
received raw (bearer checked in constant time, deduplicated on notificationId), applied by a
task next to the polling that works without them."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from contextvars import ContextVar
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import AppleError, plain_message
from apple.types import EventFailure, User
from assignments import license_records as records
from assignments.apple_records import apple_users_upsert
from assignments.models import AppleUser, License
from ebooks.models import EBook
from sync.models import AppleEvent, AppleNotification, NotificationEndpoint, ReconcileRun
from sync.reconcile import outbox, queue
from sync.reconcile.counts import ebooks_counts_refresh
from sync.reconcile.runs import reconcile_changed_mark, reconcile_request, reconcile_run_count
from tokens.clients import client_for_token, client_user_id_prefix
from tokens.models import VppToken

logger = logging.getLogger(__name__)

# Set while a batch is applied: the installation's prefix is read once, not per notification.
_PREFIX: ContextVar[str | None] = ContextVar("notification_prefix", default=None)
ALL_TYPES = ("ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT")
MAX_BODY = 1024 * 1024  # Apple's batches are far smaller; anything bigger is refused
NOT_ENOUGH_LICENSES = 9709
Trigger = ReconcileRun.Trigger


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def notification_url(*, token_id: int) -> str:
    """Where Apple posts the token's notifications."""
    return f"{settings.PUBLIC_URL}/apple/notifications/{token_id}/"


def notifications_register(
    *, token: VppToken, client: AppleClient, now: datetime | None = None
) -> NotificationEndpoint | None:
    """Register the endpoint with Apple when PUBLIC_URL is set and it is not registered yet.

    A fresh random secret each time; only its hash is kept. Failures are recorded, never fatal.
    """
    if not settings.PUBLIC_URL:
        return None
    now = now or timezone.now()
    url = notification_url(token_id=token.pk)
    endpoint, _ = NotificationEndpoint.objects.get_or_create(token=token)
    if endpoint.url == url and endpoint.registered_at is not None:
        return endpoint
    secret = secrets.token_urlsafe(32)
    try:
        types = client.service_config().notification_types or ALL_TYPES
        client.set_notifications(url=url, auth_token=secret, types=types)
    except AppleError as error:
        endpoint.error = f"Apple refused the notification address: {plain_message(error)}"[:500]
        endpoint.save(update_fields=["error"])
        return endpoint
    endpoint.url, endpoint.auth_token_hash = url, _hash(secret)
    endpoint.registered_at, endpoint.verified_at, endpoint.error = now, None, ""
    endpoint.save()
    return endpoint


# --- receiving ----------------------------------------------------------------------------


class NotificationRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def notification_receive(*, token_id: int, authorization: str, body: bytes) -> bool:
    """Check the bearer and store the notification raw; False when it was a duplicate."""
    scheme, _, presented = authorization.partition(" ")
    endpoint = (
        NotificationEndpoint.objects.filter(token_id=token_id).exclude(auth_token_hash="").first()
    )
    expected = endpoint.auth_token_hash if endpoint else _hash(secrets.token_hex(16))
    # Compared in constant time, and hashed first so neither length nor prefix leaks.
    ok = hmac.compare_digest(_hash(presented.strip()), expected)
    if endpoint is None or scheme.lower() != "bearer" or not ok:
        raise NotificationRefused(401, "Not authorised.")
    if len(body) > MAX_BODY:
        raise NotificationRefused(413, "Too large.")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise NotificationRefused(400, "The body is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("notificationId"), str | int):
        raise NotificationRefused(400, "A notification needs a notificationId.")
    notification_id = str(data["notificationId"])[:100]
    kind = data.get("notificationType")
    now = timezone.now()
    try:
        with transaction.atomic():
            stored = AppleNotification.objects.create(
                token_id=token_id,
                notification_id=notification_id,
                notification_type=str(kind or "")[:40],
                body=body.decode(),
            )
            queue.notification_enqueue(notification_id=stored.pk)
    except IntegrityError:
        return False  # Apple delivered it again: applied once
    finally:
        NotificationEndpoint.objects.filter(pk=endpoint.pk).update(last_received_at=now)
    return True


# --- applying -----------------------------------------------------------------------------


def notification_apply(*, notification_id: int, client: AppleClient | None = None) -> str:
    """Apply one stored notification (idempotent); returns what was done, for the task log."""
    stored = AppleNotification.objects.select_related("token").filter(pk=notification_id).first()
    if stored is None or stored.processed_at is not None:
        return "already applied"
    now = timezone.now()
    error = _apply(stored, now, client)
    AppleNotification.objects.filter(pk=stored.pk, processed_at__isnull=True).update(
        processed_at=now, error=error[:500]
    )
    return error or "applied"


def _apply(stored: AppleNotification, now: datetime, client: AppleClient | None) -> str:
    """Run the notification's handler; the error to record ("" when it applied)."""
    try:
        data = json.loads(stored.body)
        payload = data.get("notification") or {}
        handler = _HANDLERS.get(stored.notification_type)
        if handler is None:
            return f"Unknown notification type {stored.notification_type!r}: stored, ignored."
        handler(stored.token, payload, now, client)
    except AppleError as failure:
        return f"Apple could not be asked about it: {plain_message(failure)}"
    except (ValueError, TypeError, AttributeError, KeyError) as failure:
        return f"Malformed notification: {failure.__class__.__name__}"
    return ""


def notifications_apply_pending(
    *, before: datetime | None = None, limit: int = 1000, batch: int = 100
) -> int:
    """Apply stored notifications no task applied (lost with a worker, or a flood), oldest
    first, a batch at a time: memory stays bounded by the batch, not by the backlog."""
    unapplied = AppleNotification.objects.filter(processed_at__isnull=True)
    if before is not None:
        unapplied = unapplied.filter(received_at__lt=before)
    ids = list(unapplied.order_by("received_at", "pk").values_list("pk", flat=True)[:limit])
    reset = _PREFIX.set(client_user_id_prefix())
    try:
        _apply_batches(ids, batch)
    finally:
        _PREFIX.reset(reset)
    return len(ids)


def _apply_batches(ids: list[int], batch: int) -> None:
    for start in range(0, len(ids), batch):
        now = timezone.now()
        with transaction.atomic():  # one commit per batch, not per notification
            rows = AppleNotification.objects.select_related("token").filter(
                pk__in=ids[start : start + batch], processed_at__isnull=True
            )
            outcomes: dict[str, list[int]] = {}
            for stored in rows.order_by("received_at", "pk"):
                outcomes.setdefault(_apply(stored, now, None)[:500], []).append(stored.pk)
            for error, pks in outcomes.items():
                AppleNotification.objects.filter(pk__in=pks, processed_at__isnull=True).update(
                    processed_at=now, error=error
                )


def _test(token: VppToken, payload: dict, now: datetime, client) -> None:
    NotificationEndpoint.objects.filter(token=token).update(verified_at=now)


def _asset_count(token: VppToken, payload: dict, now: datetime, client) -> None:
    adam_id, pricing = str(payload["adamId"]), str(payload.get("pricingParam") or "STDQ")
    delta = int(payload["countDelta"])
    with transaction.atomic():
        book = (
            EBook.objects.select_for_update()
            .filter(token=token, adam_id=adam_id, pricing_param=pricing)
            .first()
        )
        if book is None:
            return  # a book the next sync brings in
        total, available = book.total_count + delta, book.available_count + delta
        sane = total >= 0 and available >= 0 and book.assigned_count <= total
        if sane and not book.unlimited:
            EBook.objects.filter(pk=book.pk).update(
                total_count=total, available_count=available, counts_as_of=now
            )
    if not sane:
        # Our counts and Apple's disagree: read the asset again rather than store nonsense.
        ebooks_counts_refresh(
            token=token, client=client or client_for_token(token), ebook_ids={book.pk}, at=now
        )
    waiting = License.objects.filter(ebook=book, state=License.State.NOT_ENOUGH).exists()
    if delta > 0 and waiting:
        reconcile_changed_mark(token_ids=[token.pk], at=now)
        reconcile_request(token=token, trigger=Trigger.NOTIFICATION)


def _users(token: VppToken, users: list, now: datetime) -> int:
    parsed = [User.from_json(u) for u in users if isinstance(u, dict)]
    prefix = _PREFIX.get() or client_user_id_prefix()
    return apple_users_upsert(token=token, users=parsed, prefix=prefix, seen_at=now).ours


def _user_associated(token: VppToken, payload: dict, now: datetime, client) -> None:
    if _users(token, payload.get("associatedUsers") or [], now):
        # The person joined: license them now, not at the next sync.
        reconcile_changed_mark(token_ids=[token.pk], at=now)
        reconcile_request(token=token, trigger=Trigger.NOTIFICATION)


def _user_management(token: VppToken, payload: dict, now: datetime, client) -> None:
    ours = _users(token, payload.get("users") or [], now)
    event_id = str(payload.get("eventId") or "")
    event = AppleEvent.objects.filter(token=token, event_id=event_id).first() if event_id else None
    waiting = AppleUser.objects.filter(
        token=token,
        event_id=event.license_ref if event else event_id,  # what the event's users carry
        status=AppleUser.Status.PENDING,
    )
    finished = 0
    if event_id and not waiting.exists():
        finished = AppleEvent.objects.filter(
            token=token, event_id=event_id, state=AppleEvent.State.PENDING
        ).update(state=AppleEvent.State.DONE, finished_at=now)
    if ours or finished:
        # As the follow-up does when it finishes a users event: the people Apple registered can
        # now be licensed or invited. Whoever learns the outcome first must queue that run.
        reconcile_request(token=token, trigger=Trigger.FOLLOW_UP)


def _asset_management(token: VppToken, payload: dict, now: datetime, client) -> None:
    if str(payload.get("type") or "ASSOCIATE") != "ASSOCIATE":
        return  # books are never disassociated or revoked by this product
    event_id = str(payload.get("eventId") or "")
    books = {
        (adam, pricing): pk
        for pk, adam, pricing in EBook.objects.filter(token=token).values_list(
            "pk", "adam_id", "pricing_param"
        )
    }
    held: dict[int, list[str]] = {}
    for row in payload.get("assignments") or []:
        key = (str(row.get("adamId")), str(row.get("pricingParam") or "STDQ"))
        if key in books and row.get("clientUserId"):
            held.setdefault(books[key], []).append(str(row["clientUserId"]))
    assigned = sum(
        records.licenses_assigned_record(
            token=token, ebook=EBook(pk=pk), client_user_ids=cuids, at=now
        )
        for pk, cuids in held.items()
    )
    failed = 0
    error = payload.get("error")
    if isinstance(error, dict):
        failure = EventFailure.from_json(error)
        state = (
            License.State.NOT_ENOUGH
            if failure.error_number == NOT_ENOUGH_LICENSES
            else License.State.FAILED
        )
        keys = [books[tuple(k)] for k in failure.assets if tuple(k) in books]
        rows = License.objects.filter(
            token=token,
            state=License.State.PENDING,
            apple_user__client_user_id__in=list(failure.client_user_ids),
        )
        if keys:
            rows = rows.filter(ebook_id__in=keys)
        failed = rows.update(
            state=state,
            error_number=failure.error_number,
            error_message=plain_message(failure)[:500],
            updated_at=now,
        )
    event = AppleEvent.objects.filter(token=token, event_id=event_id).first()
    if event is None and held:
        # Apple told us before its answer to the request was recorded: the request is found
        # by the key its licenses carry, so the outcome still counts for its run, once.
        ebook_id, cuids = next(iter(held.items()))
        event = outbox.request_unanswered_of(
            token=token, ebook_id=ebook_id, client_user_id=cuids[0]
        )
    if event is not None:
        ref = event.license_ref  # what the event's licenses carry
        reconcile_run_count(run_id=event.run_id, licenses_assigned=assigned, licenses_failed=failed)
        if assigned:
            records.install_requests_for_event(token=token, event_id=ref)
        left = License.objects.filter(token=token, event_id=ref, state=License.State.PENDING)
        if not left.exists() and AppleEvent.objects.filter(
            pk=event.pk, state__in=(AppleEvent.State.PENDING, AppleEvent.State.SENDING)
        ).update(state=AppleEvent.State.DONE, finished_at=now):
            books_of_event = License.objects.filter(token=token, event_id=ref)
            ebooks_counts_refresh(
                token=token,
                client=client or client_for_token(token),
                ebook_ids=set(held) | set(books_of_event.values_list("ebook_id", flat=True)),
                at=now,
            )


_HANDLERS = {
    "TEST_NOTIFICATION": _test,
    "ASSET_COUNT": _asset_count,
    "USER_ASSOCIATED": _user_associated,
    "USER_MANAGEMENT": _user_management,
    "ASSET_MANAGEMENT": _asset_management,
}
