"""One step of a reconcile run: plan each book, register and invite the people who lack an
Apple user, and ask Apple for the licenses, in requests of the allowed size. Nothing waits for
Apple here: each request's licenses are written with its key before it leaves, its event
recorded once Apple answers (sync.reconcile.outbox) and followed up later."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import (
    AppleError,
    AuthError,
    ClaimedElsewhereError,
    TransientError,
    plain_message,
)
from apple.types import Asset, AssetKey, EventRef, NewUser
from assignments import license_records as records
from assignments.invitations import InvitationError, invitations_send
from assignments.license_records import UserRow
from assignments.models import AppleUser, GroupAssignment, License
from assignments.plan import BookPlan, TargetCache, book_plan, books_to_plan
from ebooks.models import EBook
from sync.models import AppleEvent, ReconcileRun, ReconcileState
from sync.reconcile import outbox, queue
from sync.reconcile.counts import ebooks_counts_apply
from sync.reconcile.follow import INVITATION_POLL, book_events_settle, follow_up_schedule
from sync.reconcile.grants import HELD_PREFIX, Grant, Grants, held_by_other_runs_drop
from sync.reconcile.notifications import notifications_register
from sync.reconcile.runs import (
    reconcile_changed_mark,
    reconcile_run_beat,
    reconcile_run_finish,
)
from tokens.clients import client_for_token, client_user_id_prefix
from tokens.models import VppToken
from tokens.services import token_apple_error_record

logger = logging.getLogger(__name__)

State = License.State
RunState = ReconcileRun.State
TASK_BUDGET = 10.0  # seconds a step works before it hands the rest to a new task
PEOPLE_PER_SLICE = 5000  # a multiple of Apple's request sizes: no request goes out half full
FIRST_FOLLOW_UP = 2.0  # seconds after a write before its event is first checked
# A pending license whose request has no answer recorded may still be in flight at Apple.
STRANDED_GRACE = timedelta(minutes=2)
SKIP_STATES = {VppToken.State.EXPIRED, VppToken.State.INVALID, VppToken.State.CLAIMED_ELSEWHERE}
NOT_ENOUGH_LICENSES = 9709


def _maybe_queued(error: AppleError) -> bool:
    return isinstance(error, TransientError) and error.maybe_queued


def _new_user(user: UserRow) -> NewUser:
    return NewUser(
        client_user_id=user.client_user_id,
        email=user.email or None,
        managed_apple_id=user.managed_apple_id or None,
    )


class Handover(Exception):
    """The step used its time: the rest of the book is planned again by the next step."""


class TokenStop(Exception):
    """Apple refused the token itself: the run stops, the token's state says why."""


def reconcile_run_execute(
    *,
    run_id: int,
    client: AppleClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    budget: float | None = None,
) -> ReconcileRun | None:
    """Do one step of a run (at most `budget` seconds); queue the next step or finish."""
    from sync.reconcile.runs import reconcile_run_take

    now = timezone.now()
    run = reconcile_run_take(run_id=run_id, now=now)
    if run is None:
        return None
    token = run.token
    if token.state in SKIP_STATES:
        return reconcile_run_finish(
            run=run,
            state=RunState.FAILED,
            message=f"Nothing was sent to Apple: the token is {token.get_state_display().lower()}.",
        )
    budget = TASK_BUDGET if budget is None else budget
    push = Push(run, client or client_for_token(token), clock=clock, budget=budget)
    try:
        more = push.step()
    except TokenStop as stop:
        return push.finish(RunState.FAILED, str(stop))
    except Exception:
        logger.exception("Reconcile run %s failed", run_id)
        return push.finish(
            RunState.FAILED, "An internal error stopped the reconcile; the worker log has details."
        )
    if more:
        # Let go of the run before the next step is queued: that step may start at once.
        reconcile_run_beat(
            run=run, apple_requests=run.apple_requests + push.requests_made(), step_until=None
        )
        queue.run_enqueue(run_id=run.pk)
        return ReconcileRun.objects.get(pk=run.pk)
    state = RunState.PARTIAL if push.book_errors else RunState.SUCCEEDED
    return push.finish(state, "\n".join(push.book_errors))


class Push:
    def __init__(self, run: ReconcileRun, client: AppleClient, *, clock, budget: float) -> None:
        self.run = run
        self.token = run.token
        self.client = client
        self.clock = clock
        self.deadline = clock() + budget
        self.prefix = client_user_id_prefix()
        self.now = timezone.now()
        self.counts: dict[str, int] = {}
        self.book_errors: list[str] = []
        self.assets: dict[tuple[str, str], Asset] | None = None
        self.events_sent = 0
        # Books going to exactly the same people share requests (maxAssets books each).
        self.grants = Grants(token=self.token, run_id=run.pk)
        self.pieces_sent = 0
        self.last_book = False
        # Read once per step: the people of each group, the books with stranded licenses and
        # the Apple users already associated (nothing in a step changes those).
        self.targets: TargetCache = {}
        self.stranded_books: set[int] | None = None
        self.associated: dict[int, UserRow] = {}
        self._start_requests = client.request_count

    def requests_made(self) -> int:
        return self.client.request_count - self._start_requests

    def _add(self, **deltas: int) -> None:
        for name, value in deltas.items():
            self.counts[name] = self.counts.get(name, 0) + value

    # --- the step -----------------------------------------------------------------------

    def step(self) -> bool:
        """Work through books from the run's cursor; True when work remains for another step."""
        run = self.run
        if run.book_cursor == 0 and run.phase == ReconcileRun.Phase.WAITING:
            notifications_register(token=self.token, client=self.client, now=self.now)
            seen_changes = self._changes_to_plan()
            if seen_changes is None:
                return False
            ReconcileState.objects.filter(token=self.token).update(
                planned_at=self.now, planned_seq=seen_changes
            )
            total = (
                EBook.objects.filter(
                    token=self.token, gone_at__isnull=True, group_assignments__isnull=False
                )
                .distinct()
                .count()
            )
            run.progress_total = total
            reconcile_run_beat(run=run, phase=ReconcileRun.Phase.BOOKS, progress_total=total)
        else:
            self.grants.load()  # what the previous step gathered and held
        max_assets = self.client.service_config().limits.max_assets or 1
        for ebook in books_to_plan(token=self.token, after_pk=run.book_cursor):
            self.last_book = not self._more_books(after_pk=ebook.pk)
            try:
                self._book(ebook)
            except Handover:
                self._hand_over(after_pk=ebook.pk)
                self._save_progress()
                return True
            except (AuthError, ClaimedElsewhereError) as error:
                token_apple_error_record(token=self.token, error=error)
                raise TokenStop(plain_message(error)) from None
            except (AppleError, InvitationError) as error:
                self.book_errors.append(f"“{ebook}”: {plain_message(error)}")
                self._add(books_failed=1)
                logger.warning("Reconcile of book %s failed: %s", ebook.pk, error)
            run.book_cursor, run.person_cursor = ebook.pk, 0
            run.progress_done += 1
            # Books wait for others going to the same people until a request is full
            # (maxAssets books), so the plan sends the fewest requests Apple's limits allow.
            if self.grants.aligned(max_assets) and self.grants.people >= PEOPLE_PER_SLICE:
                self._grants_send()
            if self.clock() > self.deadline:
                self._hand_over(after_pk=ebook.pk)
                return self._save_progress()
            if not self._save_progress():
                return False
        # The plan is complete: what is gathered goes now, as far as the step's time allows.
        more = self._grants_send(budgeted=True)
        return more and self._save_progress()

    def _more_books(self, *, after_pk: int) -> bool:
        return EBook.objects.filter(
            token=self.token, gone_at__isnull=True, pk__gt=after_pk, group_assignments__isnull=False
        ).exists()

    def _hand_over(self, *, after_pk: int) -> None:
        """The step's time is up. Requests not full yet wait for the next step, which may add
        books to them; when no book is left to plan after this one, nothing can join them."""
        if self._more_books(after_pk=after_pk):
            self.grants.hold()
        else:
            self._grants_send()

    def _grants_send(self, *, budgeted: bool = False) -> bool:
        """Ask Apple for the licenses gathered, books with the same people together; True when
        the step's time ran out (`budgeted`) and the rest is held for the next step."""
        held = False
        # Pieces of exactly one request each (maxAssets books by maxClientUserIds people): one
        # key per request, written with its licenses as it leaves.
        limits = self.client.service_config().limits
        size = limits.max_client_user_ids or PEOPLE_PER_SLICE
        books = limits.max_assets or 1
        for grant in self.grants.take():
            held = self._grant_send(grant, size, books, budgeted=budgeted) or held
        return held

    def _grant_send(self, grant: Grant, size: int, books: int, *, budgeted: bool) -> bool:
        """One grant, request by request; True when the step's time ran out (checked between
        requests: each writes its licenses) and the rest was held."""
        for start in range(0, len(grant.users), size):
            users = grant.users[start : start + size]
            for first in range(0, len(grant.ebooks), books):
                if budgeted and self.pieces_sent and self.clock() > self.deadline:
                    self.grants.hold_rest(grant, users, grant.ebooks[first:])
                    self.grants.hold_rest(grant, grant.users[start + size :], grant.ebooks)
                    return True
                self.pieces_sent += 1
                if not self._request(grant.ebooks[first : first + books], users):
                    return False  # the rest of the grant is not asked for: planned again
        return False

    def _request(self, ebooks: list[EBook], users: list[UserRow]) -> bool:
        """One associate request; False when Apple refused it."""
        try:
            self._associate(ebooks, users)
        except (AuthError, ClaimedElsewhereError) as error:
            token_apple_error_record(token=self.token, error=error)
            raise TokenStop(plain_message(error)) from None
        except AppleError as error:
            names = ", ".join(f"“{e}”" for e in ebooks)
            self.book_errors.append(f"{names}: {plain_message(error)}")
            self._add(books_failed=len(ebooks))
            return False
        return True

    def _save_progress(self) -> bool:
        from django.db.models import F

        values = {
            "book_cursor": self.run.book_cursor,
            "person_cursor": self.run.person_cursor,
            "progress_done": self.run.progress_done,
            **{name: F(name) + value for name, value in self.counts.items()},
        }
        self.counts = {}
        return reconcile_run_beat(run=self.run, **values)

    def _changes_to_plan(self) -> int | None:
        """The change count this plan covers, or None when there is nothing to do. A run after no
        change costs a few indexed reads, whatever the size."""
        state, _ = ReconcileState.objects.get_or_create(token=self.token)
        changed = state.planned_at is None or state.change_seq > state.planned_seq
        if self.run.trigger in (ReconcileRun.Trigger.MANUAL, ReconcileRun.Trigger.FOLLOW_UP):
            changed = True  # asked for, or Apple finished registering people / refused some
        # Licenses a dead run held were never requested: dropped, and planned again.
        dropped = held_by_other_runs_drop(token=self.token, run_id=self.run.pk)
        if changed or dropped or self._stranded():
            return state.change_seq
        return None

    def _stranded(self) -> bool:
        """A request's answer was never recorded and some of its licenses are still pending."""
        if not outbox.requests_unanswered(token=self.token):
            return False
        outbox.requests_settled_close(token=self.token, at=self.now)
        return outbox.requests_unanswered(token=self.token)

    def finish(self, state: str, message: str) -> ReconcileRun:
        self._save_progress()
        run = reconcile_run_finish(
            run=self.run, state=state, message=message, apple_requests=self.requests_made()
        )
        now = timezone.now()
        if self.events_sent:
            follow_up_schedule(
                token_id=self.token.pk, at=now + timedelta(seconds=FIRST_FOLLOW_UP), now=now
            )
        elif License.objects.filter(token=self.token, state=State.WAITING_INVITATION).exists():
            # Nobody may tell us when they join (no notifications): look again later.
            follow_up_schedule(token_id=self.token.pk, at=now + INVITATION_POLL, now=now)
        return run

    # --- one book -------------------------------------------------------------------------

    def _book(self, ebook: EBook) -> None:
        self._stranded_resolve(ebook)
        plan = book_plan(ebook=ebook, targets=self.targets)
        wanted = self._not_done_yet(plan)
        for start in range(0, len(wanted), PEOPLE_PER_SLICE):
            if start and self.clock() > self.deadline:
                self.run.person_cursor = wanted[start]
                raise Handover
            self._give(ebook, wanted[start : start + PEOPLE_PER_SLICE])
            if self.last_book:
                # No book after this one can join these people's requests: send them now,
                # not all together when the step's time is up.
                self._grants_send()
        self.run.person_cursor = 0
        records.offers_record(ebook=ebook, person_intents=plan.intents)
        required = [pk for pk, i in plan.intents.items() if i == GroupAssignment.Intent.REQUIRED]
        licensed = [
            pk
            for start in range(0, len(required), PEOPLE_PER_SLICE)
            for pk in License.objects.filter(
                ebook=ebook,
                state=State.ASSIGNED,
                person_id__in=required[start : start + PEOPLE_PER_SLICE],
            ).values_list("person_id", flat=True)
        ]
        records.install_requests_record(ebook=ebook, person_ids=licensed)
        # Kept flags change with assignments and memberships: their services set them.

    def _not_done_yet(self, plan: BookPlan) -> list[int]:
        """The wanted people an earlier step of this run has not reached (it handed over in the
        middle of this book at person_cursor): a book of 100,000 people is not gone through
        again from its start by every step."""
        try:
            position = plan.targeted.index(self.run.person_cursor)
        except ValueError:  # no cursor, or that person is no longer targeted: from the start
            self._add(people_targeted=len(plan.targeted))
            return plan.wanted
        rest = set(plan.targeted[position:])
        return [pk for pk in plan.wanted if pk in rest]

    def _stranded_resolve(self, ebook: EBook) -> None:
        """Pending licenses whose request has no answer recorded (a worker died before it was,
        or the answer was lost): ask Apple's listing, never the request again."""
        if self.stranded_books is None:
            # Requests whose licenses all settled otherwise (a notification) stop counting.
            outbox.requests_settled_close(token=self.token, at=self.now)
            self.stranded_books = {book for book, _ in outbox.licenses_stranded(token=self.token)}
        if ebook.pk not in self.stranded_books:
            return
        stranded = [pk for _, pk in outbox.licenses_stranded(token=self.token, ebook_id=ebook.pk)]
        if not stranded:
            return
        rows = dict(
            License.objects.filter(pk__in=stranded).values_list("pk", "apple_user__client_user_id")
        )
        ages = dict(License.objects.filter(pk__in=stranded).values_list("pk", "updated_at"))
        if len(rows) <= 20:
            held_cuids = {
                a.client_user_id
                for cuid in set(rows.values())
                for a in self.client.assignments(
                    adam_id=ebook.adam_id, pricing_param=ebook.pricing_param, client_user_id=cuid
                )
            }
        else:
            wanted = set(rows.values())
            held_cuids = {
                a.client_user_id
                for a in self.client.assignments(
                    adam_id=ebook.adam_id, pricing_param=ebook.pricing_param, parallel=5
                )
                if a.client_user_id in wanted
            }
        held = {pk for pk, cuid in rows.items() if cuid in held_cuids}
        # Young rows Apple does not list yet may still be on their way: look again next run.
        settled = [pk for pk in rows if pk in held or ages[pk] < self.now - STRANDED_GRACE]
        records.licenses_stranded_resolve(license_ids=settled, held_ids=held, at=self.now)
        outbox.requests_settled_close(token=self.token, at=self.now)

    def _give(self, ebook: EBook, person_ids: list[int]) -> None:
        """Register, invite and license one slice of the people who lack the book."""
        users = self._users(person_ids)
        rows = [users[pk] for pk in person_ids if pk in users]
        self._register([u for u in rows if u.status == AppleUser.Status.PENDING])
        self._add(invitations_sent=invitations_send(users=rows, client=self.client))
        invited = [u for u in rows if u.status == AppleUser.Status.REGISTERED]
        joined = [u for u in rows if u.status == AppleUser.Status.ASSOCIATED]
        # The true reason first: people past the licenses left are short, not just waiting
        # (those who joined come first; the last synced count decides, no extra request).
        room = None if ebook.unlimited else max(ebook.available_count - len(joined), 0)
        invited, short_invited = (invited, []) if room is None else (invited[:room], invited[room:])
        records.licenses_set_state(
            token=self.token,
            ebook=ebook,
            users=short_invited,
            state=State.NOT_ENOUGH,
            at=self.now,
            error_number=NOT_ENOUGH_LICENSES,
            error_message="Not enough licenses left for this book; buy more to cover everyone. "
            "(They have not accepted Apple's invitation yet either.)",
        )
        self._add(shortfall=len(short_invited))
        records.licenses_set_state(
            token=self.token,
            ebook=ebook,
            users=invited,
            state=State.WAITING_INVITATION,
            at=self.now,
        )
        failed_pks = [u.pk for u in rows if u.status == AppleUser.Status.FAILED]
        failed_users = (
            AppleUser.objects.filter(pk__in=failed_pks).values_list("pk", "error")
            if failed_pks
            else []
        )
        for pk, error in failed_users:
            records.licenses_set_state(
                token=self.token,
                ebook=ebook,
                users=[u for u in rows if u.pk == pk],
                state=State.FAILED,
                at=self.now,
                error_message=f"The person could not be registered with Apple: {error}",
            )
        if joined:
            self._license(ebook, joined)

    # --- Apple users --------------------------------------------------------------------

    def _users(self, person_ids: list[int]) -> dict[int, UserRow]:
        """The people's live Apple users (made as needed); associated ones are remembered for
        the step's other books, the others read again (the step registers and invites them)."""
        missing = [pk for pk in person_ids if pk not in self.associated]
        users = {}
        if missing:
            size = self.client.service_config().limits.max_users or 1
            # New users carry their registration request's key; its outbox event goes with them.
            with transaction.atomic():
                users = records.apple_users_prepare(
                    token=self.token, person_ids=missing, prefix=self.prefix, request_size=size
                )
                pending = [u for u in users.values() if u.status == AppleUser.Status.PENDING]
                outbox.user_requests_open(
                    token=self.token, run=self.run, users=pending, at=self.now
                )
        for pk, user in users.items():
            if user.status == AppleUser.Status.ASSOCIATED:
                self.associated[pk] = user
        found = {}
        for pk in person_ids:
            user = users.get(pk) or self.associated.get(pk)
            if user is not None:
                found[pk] = user
        return found

    def _register(self, users: list[UserRow]) -> None:
        """Ask Apple to create the pending users not asked for yet (no answer recorded), one
        request per key; their events are followed up, nobody waits here."""
        if not users:
            return
        if any(not u.event_id for u in users):  # made before keys, or to register again
            size = self.client.service_config().limits.max_users or 1
            users = records.apple_users_keyed(token=self.token, users=users, request_size=size)
            outbox.user_requests_open(token=self.token, run=self.run, users=users, at=self.now)
        answered = outbox.requests_answered(token=self.token, keys={u.event_id for u in users})
        requests: dict[str, list[UserRow]] = {}
        for user in users:
            # Apple's own event id (a registration sent before keys): answered already.
            if user.event_id.startswith(outbox.KEY_PREFIX) and user.event_id not in answered:
                requests.setdefault(user.event_id, []).append(user)
        answers: dict[str, EventRef] = {}
        try:
            for key, group in requests.items():
                events = self.client.create_users([_new_user(u) for u in group])
                if len(events) == 1:  # else unanswered: registered again by the next step
                    answers[key] = events[0]
        except AppleError as error:
            self._registrations_sent(answers)
            if isinstance(error, AuthError | ClaimedElsewhereError) or _maybe_queued(error):
                raise  # users Apple may have made show up in the next users read
            refused = [key for key in requests if key not in answers]
            records.apple_users_registration_failed(
                token=self.token,
                client_user_ids=[u.client_user_id for key in refused for u in requests[key]],
                reason=plain_message(error),
            )
            outbox.requests_refused(token=self.token, keys=refused, at=self.now)
            raise
        self._registrations_sent(answers)

    def _registrations_sent(self, answers: dict[str, EventRef]) -> None:
        if not answers:
            return
        outbox.user_requests_answered(
            token=self.token,
            answers=answers,
            next_check_at=self.now + timedelta(seconds=FIRST_FOLLOW_UP),
        )
        self.events_sent += len(answers)
        self._add(
            write_requests=len(answers),
            users_registered=sum(len(e.client_user_ids) for e in answers.values()),
        )

    # --- licenses -----------------------------------------------------------------------

    def _available(self, ebook: EBook) -> int | None:
        """Licenses Apple says are free (None: unlimited), minus any still in flight.

        The token's assets are read once per step (a few requests, not one per book) and the
        book's counts are stored with their time.
        """
        if self.assets is None:
            self.assets = {a.key: a for a in self.client.assets(product_type="Book", parallel=5)}
            ebooks_counts_apply(token=self.token, assets=list(self.assets.values()), at=self.now)
        asset = self.assets.get((ebook.adam_id, ebook.pricing_param))
        if asset is None:
            return 0
        if asset.unlimited:
            return None
        # Gathered licenses are written only when their request leaves: in flight as well.
        in_flight = License.objects.filter(ebook=ebook, state=State.PENDING).count()
        in_flight += self.grants.gathered(ebook.pk)
        return max((asset.available_count or 0) - in_flight, 0)

    def _license(self, ebook: EBook, joined: list[UserRow]) -> None:
        available = self._available(ebook)
        if available is not None and len(joined) > available and self._settle(ebook):
            # Licenses in flight were subtracted from a count that may already include them:
            # with their outcomes known, ask Apple for the count again.
            self.assets = None
            available = self._available(ebook)
        granted, short = (
            (joined, []) if available is None else (joined[:available], joined[available:])
        )
        if short and self._in_flight(ebook):
            # Apple's count may already include licenses whose outcome is not known yet: these
            # people are not short for sure. A change is counted: the follow-up that learns
            # those outcomes queues the run that licenses them (or finds them short).
            reconcile_changed_mark(token_ids=[self.token.pk])
            short = []
        records.licenses_set_state(
            token=self.token,
            ebook=ebook,
            users=short,
            state=State.NOT_ENOUGH,
            at=self.now,
            error_number=NOT_ENOUGH_LICENSES,
            error_message="Not enough licenses left for this book; buy more to cover everyone.",
        )
        self._add(shortfall=len(short))
        if granted:
            # Written pending when their request leaves (_associate), with its key.
            self.grants.add(ebook, granted)

    def _settle(self, ebook: EBook) -> bool:
        if self.grants.has(ebook.pk):
            self._grants_send()  # what this step gathered must be asked for first
        return bool(
            book_events_settle(
                token=self.token,
                client=self.client,
                ebook_id=ebook.pk,
                clock=self.clock,
                budget=TASK_BUDGET,
            )
        )

    def _in_flight(self, ebook: EBook) -> bool:
        """Licenses of the book Apple took a request for whose outcome is not known yet."""
        unanswered = AppleEvent.objects.filter(token=self.token, state=AppleEvent.State.SENDING)
        return (
            License.objects.filter(ebook=ebook, state=State.PENDING)
            .exclude(event_id="")
            .exclude(event_id__startswith=HELD_PREFIX)
            .exclude(event_id__in=unanswered.values("license_key"))
            .exists()
        )

    def _associate(self, ebooks: list[EBook], users: list[UserRow]) -> None:
        """One request: its licenses and outbox event written, then Apple asked."""
        key = records.request_key()
        outbox.license_request_open(
            token=self.token, run=self.run, key=key, ebooks=ebooks, users=users, at=self.now
        )
        assets = [AssetKey(e.adam_id, e.pricing_param) for e in ebooks]
        try:
            events = self.client.associate(
                assets=assets, client_user_ids=[u.client_user_id for u in users]
            )
        except AppleError as error:
            if _maybe_queued(error):
                # Apple may have queued the request though its answer was lost: the licenses
                # stay pending under an unanswered key, and the next run asks Apple's listing.
                raise
            for ebook in ebooks:
                records.licenses_set_state(
                    token=self.token,
                    ebook=ebook,
                    users=users,
                    state=State.FAILED,
                    at=self.now,
                    error_number=error.error_number,
                    error_message=plain_message(error),
                )
            outbox.requests_refused(token=self.token, keys=[key], at=self.now)
            raise
        self._licenses_sent(key, events, len(ebooks) * len(users))

    def _licenses_sent(self, key: str, events: list[EventRef], requested: int) -> None:
        if len(events) != 1:
            # A piece is one request (pre-split to Apple's limits), so one event. Otherwise the
            # key stays unanswered: the next run settles its licenses from Apple's listing.
            logger.warning("Request %s answered with %d events", key, len(events))
            return
        outbox.license_request_answered(
            token=self.token,
            key=key,
            event=events[0],
            next_check_at=self.now + timedelta(seconds=FIRST_FOLLOW_UP),
        )
        self.events_sent += 1
        self._add(write_requests=1, licenses_requested=requested)
