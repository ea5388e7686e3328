"""The license reconciler: make Apple hold the licenses the group assignments ask for.

For each book of a token it finds the people an assignment covers who hold no license yet,
registers the Apple users they lack (managed Apple IDs join at once; others get an invitation),
and associates licenses in requests of Apple's maximum size, never more than Apple says are
available. Every intention is written before Apple is asked, and one reconcile per token runs at
a time (a lease row), so a second run right after asks Apple nothing and two at once never
associate twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import AppleError, AuthError, ClaimedElsewhereError, plain_message
from apple.types import AssetKey, NewUser
from assignments import license_records as records
from assignments.apple_records import apple_users_upsert
from assignments.invitations import invitations_send
from assignments.models import AppleUser, GroupAssignment, License
from assignments.selectors import people_holding, targeted_people
from assignments.services import licenses_kept_refresh
from ebooks.models import EBook
from sync.models import SyncCursor
from tokens.clients import client_for_token, client_user_id_prefix
from tokens.models import VppToken
from tokens.services import token_apple_error_record

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=30)
PEOPLE_PER_SLICE = 5000
NOT_ENOUGH_LICENSES = 9709
UNKNOWN_USER = 9609
USER_EXISTS = 9716
SKIP_STATES = {VppToken.State.EXPIRED, VppToken.State.INVALID, VppToken.State.CLAIMED_ELSEWHERE}
INTENT_RANK = {GroupAssignment.Intent.AVAILABLE: 1, GroupAssignment.Intent.REQUIRED: 2}


@dataclass
class ReconcileResult:
    token_id: int
    skipped: str = ""
    error: str = ""
    users_registered: int = 0
    invitations_sent: int = 0
    licenses_requested: int = 0
    licenses_assigned: int = 0
    licenses_failed: int = 0
    shortfall: int = 0
    waiting_invitation: int = 0
    apple_requests: int = 0
    write_requests: int = 0
    books: list[int] = field(default_factory=list)


def reconcile_token(
    *,
    token: VppToken,
    client: AppleClient | None = None,
    wait_seconds: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ReconcileResult:
    """Bring Apple in line with the token's group assignments; safe to run at any time."""
    result = ReconcileResult(token_id=token.pk)
    if token.state in SKIP_STATES:
        result.skipped = f"token is {token.get_state_display().lower()}"
        return result
    if not _lease_take(token):
        result.skipped = "another reconcile of this token is running"
        return result
    reconciler = None
    try:
        reconciler = Reconciler(
            token, client or client_for_token(token), result, wait_seconds, sleep
        )
        reconciler.run()
    except AppleError as error:
        if isinstance(error, AuthError | ClaimedElsewhereError):
            token_apple_error_record(token=token, error=error)
        result.error = plain_message(error)
        logger.warning("Reconcile of token %s stopped: %s", token.pk, error)
    finally:
        if reconciler is not None:
            result.apple_requests = reconciler.client.request_count
        _lease_release(token)
    return result


def _lease_take(token: VppToken) -> bool:
    now = timezone.now()
    SyncCursor.objects.get_or_create(token=token)
    return bool(
        SyncCursor.objects.filter(token=token)
        .filter(Q(reconcile_lease_until__isnull=True) | Q(reconcile_lease_until__lt=now))
        .update(reconcile_lease_until=now + LEASE)
    )


def _lease_release(token: VppToken) -> None:
    SyncCursor.objects.filter(token=token).update(reconcile_lease_until=None)


class Reconciler:
    def __init__(self, token, client, result, wait_seconds, sleep) -> None:
        self.token = token
        self.client = client
        self.result = result
        self.wait_seconds = wait_seconds
        self.sleep = sleep
        self.prefix = client_user_id_prefix()

    def run(self) -> None:
        books = EBook.objects.filter(
            token=self.token, gone_at__isnull=True, group_assignments__isnull=False
        ).distinct()
        for ebook in books.order_by("pk"):
            self.result.books.append(ebook.pk)
            self._resume_pending(ebook)
            self._reconcile_book(ebook)

    # --- one book -----------------------------------------------------------------------

    def _reconcile_book(self, ebook: EBook) -> None:
        held = people_holding(ebook=ebook)
        targets, intents = self._targets(ebook, held)
        wanted = [pk for pk in targets if pk not in held]
        # In slices, so a 100,000-member group never holds 100,000 rows in memory; a slice is a
        # multiple of Apple's request sizes, so no request goes out half full.
        for start in range(0, len(wanted), PEOPLE_PER_SLICE):
            self._give(ebook, wanted[start : start + PEOPLE_PER_SLICE])
        records.offers_record(ebook=ebook, person_intents=intents)
        required = [
            pk for pk, intent in intents.items() if intent == GroupAssignment.Intent.REQUIRED
        ]
        licensed = set(
            License.objects.filter(
                ebook=ebook, state=License.State.ASSIGNED, person_id__in=required
            ).values_list("person_id", flat=True)
        )
        records.install_requests_record(ebook=ebook, person_ids=licensed)
        licenses_kept_refresh(ebook_ids=[ebook.pk])

    def _give(self, ebook: EBook, person_ids: list[int]) -> None:
        """Register, invite and license one slice of the people who lack the book."""
        users = records.apple_users_prepare(
            token=self.token, person_ids=person_ids, prefix=self.prefix
        )
        self._register(
            [users[pk] for pk in person_ids if users[pk].status == AppleUser.Status.PENDING]
        )
        users = records.apple_users_prepare(
            token=self.token, person_ids=person_ids, prefix=self.prefix
        )
        self._invite([users[pk] for pk in person_ids])
        self._license(ebook, [users[pk] for pk in person_ids])

    def _targets(self, ebook: EBook, held: set[int]) -> tuple[list[int], dict[int, str]]:
        """People the book's assignments cover, in a stable order, each assignment's cap applied."""
        ordered: dict[int, None] = {}
        intents: dict[int, str] = {}
        for assignment in ebook.group_assignments.order_by("created_at", "pk").prefetch_related(
            "excluded_groups"
        ):
            people = list(
                targeted_people(
                    groups=[assignment.group_id], excluded_groups=assignment.excluded_groups.all()
                )
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if assignment.cap is not None:
                # At most `cap` of the assignment's people hold the book, over all runs: those
                # who hold it already count, so members who join later cannot push past the cap.
                holding = sum(1 for pk in people if pk in held)
                new = [pk for pk in people if pk not in held and pk not in ordered]
                allowed = set(new[: max(assignment.cap - holding, 0)])
                people = [pk for pk in people if pk in held or pk in ordered or pk in allowed]
            for pk in people:
                ordered.setdefault(pk, None)
                if INTENT_RANK[assignment.intent] > INTENT_RANK.get(intents.get(pk), 0):
                    intents[pk] = assignment.intent
        return list(ordered), intents

    # --- Apple users --------------------------------------------------------------------

    def _register(self, users: list[AppleUser]) -> None:
        """Create the Apple users; wait (bounded) until Apple lists them."""
        if not users:
            return
        new_users = [
            NewUser(
                client_user_id=u.client_user_id,
                email=u.email or None,
                managed_apple_id=(u.person.managed_apple_id or None) if u.person_id else None,
            )
            for u in AppleUser.objects.filter(pk__in=[u.pk for u in users]).select_related("person")
        ]
        try:
            events = self.client.create_users(new_users)
        except AppleError as error:
            self._registration_refused(error, new_users)
            events = list(error.partial_events)
            if not events:
                raise
        self.result.write_requests += len(events)
        for event in events:
            records.apple_users_registration_sent(
                token=self.token, client_user_ids=event.client_user_ids, event_id=event.event_id
            )
        self.result.users_registered += sum(len(e.client_user_ids) for e in events)
        self._await_users({u.client_user_id for u in new_users}, events)

    def _registration_refused(self, error: AppleError, new_users: list[NewUser]) -> None:
        sent = {cid for event in error.partial_events for cid in event.client_user_ids}
        refused = [u.client_user_id for u in new_users if u.client_user_id not in sent]
        records.apple_users_registration_failed(
            token=self.token, client_user_ids=refused, reason=plain_message(error)
        )

    def _await_users(self, client_user_ids: set[str], events) -> None:
        """Read Apple's user changes until every new user shows up, or time runs out."""
        cursor = SyncCursor.objects.get(token=self.token)
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.2
        while True:
            paged = self.client.users(since_version_id=cursor.users_version_id or None, parallel=5)
            for page in paged.pages():
                apple_users_upsert(
                    token=self.token, users=page, prefix=self.prefix, seen_at=timezone.now()
                )
            if paged.version_id:
                SyncCursor.objects.filter(pk=cursor.pk).update(users_version_id=paged.version_id)
                cursor.users_version_id = paged.version_id
            waiting = AppleUser.objects.filter(
                token=self.token,
                client_user_id__in=client_user_ids,
                status=AppleUser.Status.PENDING,
            ).exists()
            if not waiting or time.monotonic() > deadline:
                break
            self.sleep(delay)
            delay = min(delay * 2, 10.0)
        if waiting:
            self._explain_missing_users(client_user_ids, events)

    def _explain_missing_users(self, client_user_ids: set[str], events) -> None:
        """Users Apple never listed: their events say why (or that Apple is still working)."""
        for event in events:
            status = self.client.event_status(event.event_id)
            for failure in status.failures:
                if failure.error_number == USER_EXISTS:
                    continue  # registered already under this id: the next users read shows it
                records.apple_users_registration_failed(
                    token=self.token,
                    client_user_ids=failure.client_user_ids,
                    reason=plain_message(failure),
                )

    def _invite(self, users: list[AppleUser]) -> None:
        """One invitation email per registered user who has not had one."""
        self.result.invitations_sent += invitations_send(users=users, client=self.client)

    # --- licenses -----------------------------------------------------------------------

    def _license(self, ebook: EBook, users: list[AppleUser]) -> None:
        joined = [u for u in users if u.status == AppleUser.Status.ASSOCIATED]
        invited = [u for u in users if u.status == AppleUser.Status.REGISTERED]
        failed = [u for u in users if u.status == AppleUser.Status.FAILED]
        # The true reason first: people past the licenses left are short, not just waiting
        # (those who joined come first; the last synced count decides, no extra request).
        room = None if ebook.unlimited else max(ebook.available_count - len(joined), 0)
        invited, short_invited = (invited, []) if room is None else (invited[:room], invited[room:])
        records.licenses_set_state(
            token=self.token,
            ebook=ebook,
            users=short_invited,
            state=License.State.NOT_ENOUGH,
            error_number=NOT_ENOUGH_LICENSES,
            error_message="Not enough licenses left for this book; buy more to cover everyone. "
            "(They have not accepted Apple's invitation yet either.)",
        )
        self.result.shortfall += len(short_invited)
        records.licenses_set_state(
            token=self.token, ebook=ebook, users=invited, state=License.State.WAITING_INVITATION
        )
        self.result.waiting_invitation += len(invited)
        for user in failed:
            records.licenses_set_state(
                token=self.token,
                ebook=ebook,
                users=[user],
                state=License.State.FAILED,
                error_message=f"The person could not be registered with Apple: {user.error}",
            )
        if not joined:
            return
        available = self._available(ebook)
        granted, short = (
            (joined, []) if available is None else (joined[:available], joined[available:])
        )
        records.licenses_set_state(
            token=self.token,
            ebook=ebook,
            users=short,
            state=License.State.NOT_ENOUGH,
            error_number=NOT_ENOUGH_LICENSES,
            error_message="Not enough licenses left for this book; buy more to cover everyone.",
        )
        self.result.shortfall += len(short)
        if not granted:
            return
        with transaction.atomic():
            records.licenses_set_state(
                token=self.token, ebook=ebook, users=granted, state=License.State.PENDING
            )
        key = AssetKey(ebook.adam_id, ebook.pricing_param)
        try:
            events = self.client.associate(
                assets=[key], client_user_ids=[u.client_user_id for u in granted]
            )
        except AppleError as error:
            events = list(error.partial_events)
            self._record_events(ebook, events)
            sent = {cid for e in events for cid in e.client_user_ids}
            records.licenses_set_state(
                token=self.token,
                ebook=ebook,
                users=[u for u in granted if u.client_user_id not in sent],
                state=License.State.FAILED,
                error_number=error.error_number,
                error_message=plain_message(error),
            )
            raise
        self._record_events(ebook, events)
        self.result.licenses_requested += len(granted)
        self._await_events(ebook, [e.event_id for e in events])

    def _record_events(self, ebook: EBook, events) -> None:
        self.result.write_requests += len(events)
        for event in events:
            records.licenses_event_sent(
                ebook=ebook, client_user_ids=event.client_user_ids, event_id=event.event_id
            )

    def _available(self, ebook: EBook) -> int | None:
        """Licenses Apple says are free right now (None: unlimited), minus any still in flight."""
        asset = next(
            iter(self.client.assets(adam_id=ebook.adam_id, pricing_param=ebook.pricing_param)),
            None,
        )
        if asset is None:
            return 0
        if asset.unlimited:
            return None
        in_flight = License.objects.filter(ebook=ebook, state=License.State.PENDING).count()
        return max((asset.available_count or 0) - in_flight, 0)

    def _resume_pending(self, ebook: EBook) -> None:
        """Events an earlier run sent but did not see finish."""
        event_ids = set(
            License.objects.filter(ebook=ebook, state=License.State.PENDING)
            .exclude(event_id="")
            .values_list("event_id", flat=True)
        )
        if event_ids:
            self._await_events(ebook, sorted(event_ids))

    def _await_events(self, ebook: EBook, event_ids: list[str]) -> None:
        """Follow each association event to its end (bounded); record who got the book."""
        deadline = time.monotonic() + self.wait_seconds
        for event_id in event_ids:
            delay = 0.2
            while True:
                status = self.client.event_status(event_id)
                if status.is_done or time.monotonic() > deadline:
                    break
                self.sleep(delay)
                delay = min(delay * 2, 10.0)
            if not status.is_done:
                continue  # still pending at Apple: the next run picks it up
            failed = {}
            for failure in status.failures:
                outcome = _license_outcome(failure)
                if failure.error_number == UNKNOWN_USER:
                    records.apple_user_needs_registration(
                        token=self.token, client_user_ids=failure.client_user_ids
                    )
                for client_user_id in failure.client_user_ids:
                    failed[client_user_id] = outcome
            records.licenses_event_outcome(
                ebook=ebook, event_id=event_id, failed=failed, at=timezone.now()
            )
            self.result.licenses_failed += len(failed)
            self.result.licenses_assigned += max(status.num_completed, 0)


def _license_outcome(failure) -> tuple[str, int | None, str]:
    state = (
        License.State.NOT_ENOUGH
        if failure.error_number == NOT_ENOUGH_LICENSES
        else License.State.FAILED
    )
    return state, failure.error_number, plain_message(failure)
