"""The requests of a run, each recorded before it leaves.

A request gets our own key (`req:<hex>`). Its pending licenses carry that key from the moment
they are written, and an AppleEvent in state `sending` with the same key is written in the same
transaction: the outbox. When Apple answers, the event takes Apple's event id and is followed
up; the licenses are not touched again until their outcome. An event still `sending` at the
start of a run belongs to a worker that died before the answer was recorded (or to an answer
that was lost): its licenses are *stranded*, checked against Apple's listing by the next run
and never requested again blind.

Registrations of Apple users work alike: new users are made in blocks of one request, each
carrying the request's key, with an outbox event of kind `users`. Apple's answers are recorded
together once the slice's requests are sent (a thousand requests for 100,000 people). A user
whose key has no answer is simply registered again (Apple refuses a duplicate harmlessly,
9716, and the users read shows it): nothing costs money there, and nothing makes a run plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from apple.types import EventRef
from assignments import license_records as records
from assignments.license_records import REQUEST_KEY_PREFIX, UserRow
from assignments.models import License
from ebooks.models import EBook
from sync.models import AppleEvent, ReconcileRun
from tokens.models import VppToken

KEY_PREFIX = REQUEST_KEY_PREFIX
Kind = AppleEvent.Kind


@transaction.atomic
def license_request_open(
    *,
    token: VppToken,
    run: ReconcileRun | None,
    key: str,
    ebooks: Sequence[EBook],
    users: Sequence[UserRow],
    at: datetime,
) -> None:
    """Before one request leaves: its licenses pending with its key, and its outbox event.

    One transaction: a key on licenses always has its event, so a worker killed at any point
    leaves either nothing or licenses a run finds stranded. Licenses a run held for this
    request (`held:<run>`) take the key in the same statement.
    """
    AppleEvent.objects.create(
        token=token,
        run=run,
        event_id=key,
        license_key=key,
        kind=AppleEvent.Kind.LICENSES,
        state=AppleEvent.State.SENDING,
        num_requested=len(ebooks) * len(users),
        next_check_at=at,
    )
    records.licenses_requested(token=token, ebooks=ebooks, users=users, event_id=key, at=at)


def license_request_answered(
    *, token: VppToken, key: str, event: EventRef, next_check_at: datetime
) -> int:
    """Apple took the request: its event is followed up from now on (the licenses keep the
    key, found through the event's license_key)."""
    request = AppleEvent.objects.filter(token=token, license_key=key)
    followed = request.filter(state=AppleEvent.State.SENDING).update(
        event_id=event.event_id,
        state=AppleEvent.State.PENDING,
        num_requested=len(event.client_user_ids) * max(len(event.assets), 1),
        next_check_at=next_check_at,
    )
    if not followed:  # a notification settled it all first: only Apple's id is kept
        request.update(event_id=event.event_id)
    return followed


def requests_refused(*, token: VppToken, keys: Sequence[str], at: datetime) -> None:
    """Apple refused the requests outright (nothing queued): their events are closed."""
    AppleEvent.objects.filter(
        token=token, license_key__in=list(keys), state=AppleEvent.State.SENDING
    ).update(state=AppleEvent.State.DONE, finished_at=at)


def user_requests_open(
    *, token: VppToken, run: ReconcileRun | None, users: Sequence[UserRow], at: datetime
) -> None:
    """The outbox event of each registration request the users' keys name that has none."""
    sizes: dict[str, int] = {}
    for user in users:
        if user.event_id.startswith(KEY_PREFIX):
            sizes[user.event_id] = sizes.get(user.event_id, 0) + 1
    if not sizes:
        return
    known = set(
        AppleEvent.objects.filter(token=token, license_key__in=list(sizes)).values_list(
            "license_key", flat=True
        )
    )
    AppleEvent.objects.bulk_create(
        [
            AppleEvent(
                token=token,
                run=run,
                event_id=key,
                license_key=key,
                kind=Kind.USERS,
                state=AppleEvent.State.SENDING,
                num_requested=size,
                next_check_at=at,
            )
            for key, size in sizes.items()
            if key not in known
        ]
    )


def requests_answered(*, token: VppToken, keys: Set[str]) -> set[str]:
    """Those of the keys whose request Apple answered (recorded)."""
    return set(
        AppleEvent.objects.filter(token=token, license_key__in=list(keys))
        .exclude(state=AppleEvent.State.SENDING)
        .values_list("license_key", flat=True)
    )


def user_requests_answered(
    *, token: VppToken, answers: Mapping[str, EventRef], next_check_at: datetime
) -> None:
    """Apple took these registration requests (key → its event): followed up from now on.

    One pipelined batch for a slice's requests: bulk_update's CASE expressions cost 80 ms of
    Python per slice, more than the statements themselves.
    """
    table = AppleEvent._meta.db_table
    due = connection.ops.adapt_datetimefield_value(next_check_at)  # as the ORM stores it
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET event_id = %s, state = %s, num_requested = %s, "  # noqa: S608
            "next_check_at = %s WHERE token_id = %s AND license_key = %s AND state = %s",
            [
                (
                    event.event_id,
                    AppleEvent.State.PENDING,
                    len(event.client_user_ids),
                    due,
                    token.pk,
                    key,
                    AppleEvent.State.SENDING,
                )
                for key, event in answers.items()
            ],
        )


def _unanswered(token: VppToken):
    """Association requests left unanswered (registrations are simply sent again)."""
    return AppleEvent.objects.filter(
        token=token, kind=Kind.LICENSES, state=AppleEvent.State.SENDING
    )


def requests_unanswered(*, token: VppToken) -> bool:
    """Whether a request may have left without its answer recorded (one indexed read)."""
    return _unanswered(token).exists()


def request_unanswered_of(
    *, token: VppToken, ebook_id: int, client_user_id: str
) -> AppleEvent | None:
    """The unanswered request whose key the user's license of the book carries, if any."""
    key = (
        License.objects.filter(
            token=token, ebook_id=ebook_id, apple_user__client_user_id=client_user_id
        )
        .values_list("event_id", flat=True)
        .first()
    )
    if not key or not key.startswith(KEY_PREFIX):
        return None
    return _unanswered(token).filter(license_key=key).first()


def licenses_stranded(*, token: VppToken, ebook_id: int | None = None) -> list[tuple[int, int]]:
    """(ebook_id, license_id) of pending licenses whose request has no answer recorded."""
    rows = License.objects.filter(
        token=token,
        state=License.State.PENDING,
        event_id__in=_unanswered(token).values("license_key"),
    )
    if ebook_id is not None:
        rows = rows.filter(ebook_id=ebook_id)
    return list(rows.values_list("ebook_id", "pk"))


def requests_settled_close(*, token: VppToken, at: datetime) -> int:
    """Unanswered requests none of whose licenses is pending any more (settled against Apple's
    listing, or by a notification) are closed: they no longer make runs plan."""
    still_pending = License.objects.filter(
        state=License.State.PENDING, event_id=OuterRef("license_key")
    )
    return (
        _unanswered(token)
        .filter(~Exists(still_pending))
        .update(state=AppleEvent.State.DONE, finished_at=at)
    )
