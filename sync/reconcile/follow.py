"""Following Apple's events to their end: short tasks with a countdown and back-off, next to
Apple's notifications. Whoever learns an outcome first applies it; applying twice changes
nothing (only rows still pending move)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import AppleError, AuthError, ClaimedElsewhereError, plain_message
from apple.types import EventFailure, EventStatus
from assignments import license_records as records
from assignments.apple_records import apple_users_upsert
from assignments.models import AppleUser, License
from ebooks.models import EBook
from sync.models import (
    AppleEvent,
    NotificationEndpoint,
    ReconcileRun,
    ReconcileState,
    SyncCursor,
)
from sync.reconcile import queue
from sync.reconcile.counts import ebooks_counts_refresh
from sync.reconcile.runs import reconcile_changed_mark, reconcile_request, reconcile_run_count
from tokens.clients import client_for_token, client_user_id_prefix
from tokens.models import VppToken
from tokens.services import token_apple_error_record

logger = logging.getLogger(__name__)

INVITATION_POLL = timedelta(minutes=5)  # without notifications: how often to look for joiners
FOLLOW_UP_BUDGET = 2.0  # seconds a follow-up task works before handing over
MAX_BACKOFF = 120.0
GIVE_UP_AFTER = timedelta(hours=24)
# How long licensing waits for the rest of a run's registrations (then it goes on without them).
REGISTRATION_WAIT = timedelta(minutes=5)
NOT_ENOUGH_LICENSES = 9709
UNKNOWN_USER = 9609
USER_EXISTS = 9716
Kind = AppleEvent.Kind


@dataclass
class FollowUp:
    checked: int = 0
    finished: int = 0
    pending: int = 0
    next_due: datetime | None = None
    licensed: int = 0
    rerun: bool = False
    more: bool = False  # the budget ran out with work left: the next follow-up is due now
    ebooks: set[int] = field(default_factory=set)


def backoff(attempts: int) -> float:
    """Seconds before an event is checked again: 2, 4, 8 … up to two minutes."""
    return min(2.0 ** max(attempts, 1), MAX_BACKOFF)


def events_follow_up(
    *,
    token: VppToken,
    client: AppleClient | None = None,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    budget: float = FOLLOW_UP_BUDGET,
    schedule: bool = True,
) -> FollowUp:
    """Check the token's due events once (bounded by `budget`), apply outcomes, plan the next."""
    now = now or timezone.now()
    deadline = clock() + budget
    result = FollowUp()
    ReconcileState.objects.filter(token=token).update(follow_up_at=None)
    due = AppleEvent.objects.filter(
        token=token, state=AppleEvent.State.PENDING, next_check_at__lte=now
    ).order_by("next_check_at", "pk")
    if due.exists():
        client = client or client_for_token(token)
        try:
            if due.filter(kind=Kind.USERS).exists():
                _users_follow_up(
                    token, client, due.filter(kind=Kind.USERS), now, result, clock, deadline
                )
            for event in due.filter(kind=Kind.LICENSES)[:500]:
                if clock() > deadline:
                    result.more = True
                    break
                _licenses_event_check(token, client, event, now, result)
            if result.ebooks:
                ebooks_counts_refresh(token=token, client=client, ebook_ids=result.ebooks, at=now)
        except (AuthError, ClaimedElsewhereError) as error:
            token_apple_error_record(token=token, error=error)
            logger.warning("Follow-up of token %s stopped: %s", token.pk, error)
            return result
        except AppleError as error:
            logger.warning(
                "Follow-up of token %s: Apple answered %s; trying later", token.pk, error
            )
    next_invitation_check = _invitations_follow_up(token, client, now, result, clock, deadline)
    if _registrations_under_way(token, now):
        if result.rerun:
            # Others registered in the same run are still on their way: one run licenses them
            # all in full requests once they are, not one run per registration batch. Counted
            # as a change, so the run is owed even if the rest never comes.
            reconcile_changed_mark(token_ids=[token.pk], at=now)
            result.rerun = False
    elif result.rerun or _plan_owed(token):
        # A FOLLOW_UP run always plans.
        reconcile_request(token=token, trigger=ReconcileRun.Trigger.FOLLOW_UP)
    pending = AppleEvent.objects.filter(token=token, state=AppleEvent.State.PENDING)
    result.pending = pending.count()
    result.next_due = pending.aggregate(due=Min("next_check_at"))["due"]
    if next_invitation_check is not None:
        result.next_due = min(filter(None, (result.next_due, next_invitation_check)))
    if result.more:
        result.next_due = now
    if schedule and result.next_due is not None:
        follow_up_schedule(token_id=token.pk, at=result.next_due, now=now)
    return result


def _registrations_under_way(token: VppToken, now: datetime) -> bool:
    """Apple still registers users a recent run asked for (their event is young and pending)."""
    return AppleEvent.objects.filter(
        token=token,
        kind=Kind.USERS,
        state=AppleEvent.State.PENDING,
        created_at__gte=now - REGISTRATION_WAIT,
    ).exists()


def _plan_owed(token: VppToken) -> bool:
    """A change no plan has covered yet, and no run queued or running to cover it."""
    return (
        ReconcileState.objects.filter(token=token, change_seq__gt=F("planned_seq")).exists()
        and not ReconcileRun.objects.filter(
            token=token, state__in=(ReconcileRun.State.QUEUED, ReconcileRun.State.RUNNING)
        ).exists()
    )


def follow_up_schedule(*, token_id: int, at: datetime, now: datetime | None = None) -> bool:
    """Queue one follow-up task for the token at `at` unless one is already due sooner."""
    now = now or timezone.now()
    ReconcileState.objects.get_or_create(token_id=token_id)
    # A follow-up lost with its worker stops blocking after a few minutes.
    taken = (
        ReconcileState.objects.filter(token_id=token_id)
        .filter(
            Q(follow_up_at__isnull=True)
            | Q(follow_up_at__gt=at)
            | Q(follow_up_at__lt=now - timedelta(minutes=5))
        )
        .update(follow_up_at=at)
    )
    if taken:
        queue.follow_up_enqueue(token_id=token_id, countdown=(at - now).total_seconds())
    return bool(taken)


def _not_done(event: AppleEvent, now: datetime, result: FollowUp) -> None:
    if now - event.created_at > GIVE_UP_AFTER:
        AppleEvent.objects.filter(pk=event.pk).update(
            state=AppleEvent.State.GAVE_UP, finished_at=now
        )
        if event.run_id:
            ReconcileRun.objects.filter(pk=event.run_id).update(
                error_message="Apple had not finished a request after 24 hours; the next sync "
                "shows what Apple holds."
            )
        return
    attempts = event.attempts + 1
    AppleEvent.objects.filter(pk=event.pk).update(
        attempts=attempts, next_check_at=now + timedelta(seconds=backoff(attempts))
    )


# --- users ------------------------------------------------------------------------------


def _invitations_follow_up(
    token, client, now, result: FollowUp, clock, deadline
) -> datetime | None:
    """People waiting for their invitation: without working notifications, look every few
    minutes whether they joined (one incremental users read); None when nobody waits."""
    waiting = AppleUser.objects.filter(
        token=token,
        status=AppleUser.Status.REGISTERED,
        licenses__state=License.State.WAITING_INVITATION,
    )
    verified = NotificationEndpoint.objects.filter(token=token, verified_at__isnull=False).exists()
    if verified or not waiting.exists():
        return None
    state, _ = ReconcileState.objects.get_or_create(token=token)
    reading = state.users_read_page is not None  # a read a previous follow-up began
    due = (state.invitations_checked_at or now - INVITATION_POLL) + INVITATION_POLL
    if due > now and not reading:
        return due
    if not reading:
        ReconcileState.objects.filter(pk=state.pk).update(invitations_checked_at=now)
    try:
        done = _users_read(token, client or client_for_token(token), now, clock, deadline)
    except AppleError as error:
        logger.warning("Invitation check of token %s: %s", token.pk, error)
        return now + INVITATION_POLL
    if not done:
        result.more = True
        return now
    # Joined since they were invited: seen associated by this read (or an earlier one).
    if AppleUser.objects.filter(
        token=token,
        status=AppleUser.Status.ASSOCIATED,
        licenses__state=License.State.WAITING_INVITATION,
    ).exists():
        result.rerun = True
    return now + INVITATION_POLL


def _users_read(token, client, now, clock, deadline) -> bool:
    """Apple's user changes since the reconciler's own cursor (never the sync's), stored.

    A long listing is read over several tasks: when the budget runs out the next page and the
    first page's versionId are kept, and the next call resumes there (pages read twice after
    a lost worker are stored again unchanged). True when the listing is complete.
    """
    state, _ = ReconcileState.objects.get_or_create(token=token)
    start = state.users_read_page or 0
    if state.users_read_page is not None:
        since, version = state.users_read_since, state.users_read_version_id
    else:
        # Start from where the sync got to (read, never moved); else the first full listing.
        since = state.users_version_id or (
            SyncCursor.objects.filter(token=token)
            .values_list("users_version_id", flat=True)
            .first()
            or ""
        )
        version = ""
    paged = client.users(since_version_id=since or None, parallel=5)
    prefix = client_user_id_prefix()
    for page in paged.pages(start=start):
        apple_users_upsert(token=token, users=page, prefix=prefix, seen_at=now)
        version = version or paged.version_id or ""
        if paged.next_index is None:
            break
        if clock() > deadline:
            ReconcileState.objects.filter(pk=state.pk).update(
                users_read_since=since,
                users_read_version_id=version,
                users_read_page=paged.next_index,
            )
            return False
    ReconcileState.objects.filter(pk=state.pk).update(
        users_version_id=version or state.users_version_id,
        users_read_since="",
        users_read_version_id="",
        users_read_page=None,
    )
    return True


def _users_follow_up(token, client, events, now, result: FollowUp, clock, deadline) -> None:
    """One read of users changed since the reconciler's own cursor settles all user events;
    a long read goes on in the next follow-up, due at once."""
    if not _users_read(token, client, now, clock, deadline):
        result.more = True
        return
    events = list(events)
    # One read for all the events: which still have users Apple has not listed (the users
    # carry the event's license_ref: our request key, or Apple's id before keys).
    waiting: set[str] = set()
    for start in range(0, len(events), 5000):
        waiting.update(
            AppleUser.objects.filter(
                token=token,
                status=AppleUser.Status.PENDING,
                event_id__in=[e.license_ref for e in events[start : start + 5000]],
            )
            .values_list("event_id", flat=True)
            .distinct()
        )
    done = []
    for event in events:
        result.checked += 1
        if event.license_ref in waiting and event.attempts >= 2:
            # Not listed after a few looks: the event's status says why, or that Apple works on.
            status = client.event_status(event.event_id)
            if status.is_done:
                # Listed users came in with the read above; the rest failed or exist already.
                _users_failures(token, status)
                done.append(event.pk)
                continue
        if event.license_ref in waiting:
            _not_done(event, now, result)
            continue
        done.append(event.pk)
    _users_events_done(done, now, result)


def _users_failures(token, status: EventStatus) -> None:
    for failure in status.failures:
        if failure.error_number == USER_EXISTS:
            continue  # registered already under this id: the users read shows it
        records.apple_users_registration_failed(
            token=token, client_user_ids=failure.client_user_ids, reason=plain_message(failure)
        )


def _users_events_done(event_ids: list[int], now, result: FollowUp) -> None:
    finished = 0
    for start in range(0, len(event_ids), 5000):
        finished += AppleEvent.objects.filter(
            pk__in=event_ids[start : start + 5000], state=AppleEvent.State.PENDING
        ).update(state=AppleEvent.State.DONE, finished_at=now)
    if finished:
        result.finished += finished
        result.rerun = True  # the people registered can now be licensed or invited


# --- licenses ---------------------------------------------------------------------------


def _licenses_event_check(token, client, event: AppleEvent, now, result: FollowUp) -> None:
    result.checked += 1
    status = client.event_status(event.event_id)
    if not status.is_done:
        _not_done(event, now, result)
        return
    licenses_event_apply(token=token, event=event, failures=status.failures, now=now, result=result)


@transaction.atomic
def licenses_event_apply(
    *,
    token: VppToken,
    event: AppleEvent,
    failures: tuple[EventFailure, ...] | list[EventFailure],
    now: datetime,
    result: FollowUp,
) -> None:
    """An association event ended: record who holds the book and who does not, and why.

    One transaction: the outcome, its installs, the run's counters and the event's end commit
    together (one disk sync instead of four per event), and a worker killed in between leaves
    the event pending, applied whole by the next follow-up, its licenses counted once.
    """
    ref = event.license_ref  # what the event's licenses carry
    pending = License.objects.filter(event_id=ref, state=License.State.PENDING)
    ebook_ids = set(pending.values_list("ebook_id", flat=True).distinct())
    keys = dict(
        ((adam, pricing), pk)
        for pk, adam, pricing in EBook.objects.filter(pk__in=ebook_ids).values_list(
            "pk", "adam_id", "pricing_param"
        )
    )
    failed: dict[tuple[int | None, str], tuple[str, int | None, str]] = {}
    for failure in failures:
        outcome = (
            License.State.NOT_ENOUGH
            if failure.error_number == NOT_ENOUGH_LICENSES
            else License.State.FAILED,
            failure.error_number,
            plain_message(failure),
        )
        if failure.error_number == UNKNOWN_USER:
            records.apple_user_needs_registration(
                token=token, client_user_ids=failure.client_user_ids
            )
        if failure.error_number == UNKNOWN_USER:
            result.rerun = True  # registered again, then licensed; people short wait for
            # more licenses (a count notification or the next sync), not for a retry loop
        books = [keys.get(tuple(k)) for k in failure.assets] or [None]
        for ebook_id in books:
            for cuid in failure.client_user_ids:
                failed[(ebook_id, cuid)] = outcome
    failed_count = (
        License.objects.filter(token=token, event_id=ref, state=License.State.PENDING)
        .filter(apple_user__client_user_id__in={cuid for _, cuid in failed})
        .count()
    )
    assigned, assigned_rows = records.licenses_event_outcome(
        token=token, event_id=ref, failed=failed, at=now
    )
    result.licensed += assigned
    if assigned:
        records.install_requests_for_licenses(rows=assigned_rows)
    result.ebooks.update(keys.values())
    reconcile_run_count(
        run_id=event.run_id, licenses_assigned=assigned, licenses_failed=failed_count
    )
    if AppleEvent.objects.filter(pk=event.pk, state=AppleEvent.State.PENDING).update(
        state=AppleEvent.State.DONE, finished_at=now
    ):
        result.finished += 1


def book_events_settle(
    *,
    token: VppToken,
    client: AppleClient,
    ebook_id: int,
    clock: Callable[[], float] = time.monotonic,
    budget: float = FOLLOW_UP_BUDGET,
) -> int:
    """Check now the events still pending for one book's licenses (before a shortfall is
    recorded: Apple's count may already include them); returns how many ended."""
    deadline = clock() + budget
    now = timezone.now()
    # Our request keys, or Apple's event ids on licenses written before the keys.
    refs = set(
        License.objects.filter(ebook_id=ebook_id, state=License.State.PENDING)
        .exclude(event_id="")
        .values_list("event_id", flat=True)
        .distinct()
    )
    result = FollowUp()
    for event in AppleEvent.objects.filter(
        Q(license_key__in=refs) | Q(event_id__in=refs),
        token=token,
        state=AppleEvent.State.PENDING,
    ):
        if clock() > deadline:
            break
        _licenses_event_check(token, client, event, now, result)
    return result.finished
