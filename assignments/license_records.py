"""Writes the license reconciler makes: Apple users it registers, license states it records,
books offered and installs requested. Everything is written before Apple is asked, so a crash
between the two leaves a row that says "pending", never a second request for the same thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import Q

from assignments.models import AppleUser, BookOffer, Device, InstallRequest, License, Person
from ebooks.models import EBook
from tokens.models import VppToken

Status = AppleUser.Status
State = License.State


def apple_users_prepare(
    *, token: VppToken, person_ids: Iterable[int], prefix: str
) -> dict[int, AppleUser]:
    """The live Apple user of each person for this token, making pending ones as needed.

    A new clientUserId is ours (prefix) and random, so it is never reused for another person.
    """
    person_ids = list(person_ids)
    live = ~Q(status=Status.RETIRED)
    existing = {
        user.person_id: user
        for user in AppleUser.objects.filter(token=token, person_id__in=person_ids).filter(live)
    }
    missing = [pk for pk in person_ids if pk not in existing]
    if missing:
        people = Person.objects.filter(pk__in=missing).values_list(
            "pk", "email", "managed_apple_id"
        )
        AppleUser.objects.bulk_create(
            [
                AppleUser(
                    token=token,
                    person_id=pk,
                    client_user_id=f"{prefix}{uuid.uuid4().hex}",
                    email=email,
                    managed=bool(managed),
                    status=Status.PENDING,
                )
                for pk, email, managed in people
            ],
            batch_size=2000,
            ignore_conflicts=True,  # a concurrent run made one first: keep theirs
        )
        existing.update(
            (user.person_id, user)
            for user in AppleUser.objects.filter(token=token, person_id__in=missing).filter(live)
        )
    return existing


def apple_users_registration_sent(
    *, token: VppToken, client_user_ids: Sequence[str], event_id: str
) -> None:
    """Remember which Apple event registers these users."""
    AppleUser.objects.filter(token=token, client_user_id__in=client_user_ids).update(
        event_id=event_id, error=""
    )


def apple_users_registration_failed(
    *, token: VppToken, client_user_ids: Sequence[str], reason: str
) -> None:
    """Apple refused to register these users; the reason is kept for the admin."""
    AppleUser.objects.filter(
        token=token, client_user_id__in=client_user_ids, status=Status.PENDING
    ).update(status=Status.FAILED, error=reason[:500])


def apple_user_needs_registration(*, token: VppToken, client_user_ids: Sequence[str]) -> None:
    """Apple no longer knows these users (9609): register them again, same clientUserId."""
    AppleUser.objects.filter(token=token, client_user_id__in=client_user_ids).update(
        status=Status.PENDING, event_id=""
    )


def invitations_mark_sent(*, apple_user_ids: Sequence[int], at: datetime) -> None:
    """Invitation emails went out to these users."""
    AppleUser.objects.filter(pk__in=apple_user_ids).update(invitation_sent_at=at)


def licenses_set_state(
    *,
    token: VppToken,
    ebook: EBook,
    users: Sequence[AppleUser],
    state: str,
    error_number: int | None = None,
    error_message: str = "",
) -> None:
    """Record the state of the book's license for each user (created when absent).

    A license Apple already gave (assigned) is never moved back to a lesser state.
    """
    if not users:
        return
    License.objects.bulk_create(
        [
            License(
                token=token,
                ebook=ebook,
                apple_user=user,
                person_id=user.person_id,
                state=state,
                error_number=error_number,
                error_message=error_message[:500],
            )
            for user in users
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    License.objects.filter(ebook=ebook, apple_user__in=[u.pk for u in users]).exclude(
        state=State.ASSIGNED
    ).update(state=state, error_number=error_number, error_message=error_message[:500])


def licenses_event_sent(*, ebook: EBook, client_user_ids: Sequence[str], event_id: str) -> None:
    """The pending licenses this Apple event covers."""
    License.objects.filter(
        ebook=ebook, apple_user__client_user_id__in=client_user_ids, state=State.PENDING
    ).update(event_id=event_id)


def licenses_event_outcome(
    *,
    ebook: EBook,
    event_id: str,
    failed: dict[str, tuple[str, int | None, str]],
    at: datetime,
) -> None:
    """An association event ended: the listed users failed (state, number, why); others hold it."""
    pending = License.objects.filter(ebook=ebook, event_id=event_id, state=State.PENDING)
    by_outcome: dict[tuple[str, int | None, str], list[str]] = {}
    for client_user_id, outcome in failed.items():
        by_outcome.setdefault(outcome, []).append(client_user_id)
    for (state, number, reason), client_user_ids in by_outcome.items():
        pending.filter(apple_user__client_user_id__in=client_user_ids).update(
            state=state, error_number=number, error_message=reason[:500]
        )
    pending.update(state=State.ASSIGNED, assigned_at=at, error_number=None, error_message="")


def offers_record(*, ebook: EBook, person_intents: dict[int, str]) -> None:
    """The book as offered to each person, with the strongest intent that covers them."""
    if not person_intents:
        return
    BookOffer.objects.bulk_create(
        [BookOffer(person_id=pk, ebook=ebook, intent=i) for pk, i in person_intents.items()],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["person", "ebook"],
        update_fields=["intent"],
    )


def install_requests_record(*, ebook: EBook, person_ids: Iterable[int]) -> int:
    """A pending install on each device of each person (a clear status without the Books app)."""
    devices = Device.objects.filter(owner_id__in=list(person_ids)).values_list(
        "pk", "owner_id", "has_books_app"
    )
    requests = [
        InstallRequest(
            device_id=pk,
            ebook=ebook,
            person_id=owner,
            state=InstallRequest.State.PENDING if books else InstallRequest.State.NO_BOOKS_APP,
        )
        for pk, owner, books in devices
    ]
    InstallRequest.objects.bulk_create(requests, batch_size=2000, ignore_conflicts=True)
    return len(requests)
