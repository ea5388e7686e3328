"""Writes of what Apple reports about our users and the licenses they hold (used by the sync).

Only rows whose clientUserId carries this installation's prefix are ours (rule 4); the others
were registered by another product and are counted, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from apple.types import Assignment, User
from assignments.models import AppleUser, License
from tokens.models import VppToken

APPLE_STATUS = {
    "Registered": AppleUser.Status.REGISTERED,
    "Associated": AppleUser.Status.ASSOCIATED,
    "Retired": AppleUser.Status.RETIRED,
    "Deleted": AppleUser.Status.RETIRED,
}
# When Apple lists a clientUserId twice (old retired rows), the live entry wins.
_STATUS_RANK = {AppleUser.Status.ASSOCIATED: 2, AppleUser.Status.REGISTERED: 1}


@dataclass
class PageCounts:
    ours: int = 0
    foreign: int = 0
    skipped: int = 0  # not a book, or a device assignment: out of this product's scope


def apple_users_upsert(
    *, token: VppToken, users: Iterable[User], prefix: str, seen_at: datetime
) -> PageCounts:
    """Store the status Apple gives for our users; count the others."""
    counts = PageCounts()
    ours: dict[str, AppleUser] = {}
    for user in users:
        if not user.client_user_id.startswith(prefix):
            counts.foreign += 1
            continue
        counts.ours += 1
        status = APPLE_STATUS.get(user.status, AppleUser.Status.REGISTERED)
        current = ours.get(user.client_user_id)
        if current is not None and _STATUS_RANK.get(current.status, 0) >= _STATUS_RANK.get(
            status, 0
        ):
            continue
        ours[user.client_user_id] = AppleUser(
            token=token,
            client_user_id=user.client_user_id,
            email=(user.email or "")[:254],
            status=status,
            invite_code=(user.invite_code or "")[:100]
            if status != AppleUser.Status.ASSOCIATED
            else "",
            id_hash=(user.id_hash or "")[:200],
            last_seen_at=seen_at,
        )
    if ours:
        AppleUser.objects.bulk_create(
            list(ours.values()),
            update_conflicts=True,
            unique_fields=["token", "client_user_id"],
            update_fields=[
                "email",
                "status",
                "invite_code",
                "id_hash",
                "last_seen_at",
                "updated_at",
            ],
        )
    return counts


def apple_users_retire_unseen(*, token: VppToken, seen_since: datetime) -> int:
    """After a complete listing of active users, ours that Apple no longer lists are retired."""
    return AppleUser.objects.filter(
        token=token,
        status__in=[AppleUser.Status.REGISTERED, AppleUser.Status.ASSOCIATED],
        last_seen_at__lt=seen_since,
    ).update(status=AppleUser.Status.RETIRED)


def licenses_upsert_from_apple(
    *,
    token: VppToken,
    assignments: Iterable[Assignment],
    ebook_ids: dict[tuple[str, str], int],
    prefix: str,
    seen_at: datetime,
) -> PageCounts:
    """Record the book licenses Apple says our users hold (one page of assignments)."""
    counts = PageCounts()
    wanted: dict[tuple[int, str], None] = {}
    for assignment in assignments:
        client_user_id = assignment.client_user_id
        ebook_id = ebook_ids.get((assignment.adam_id, assignment.pricing_param))
        if ebook_id is None or not client_user_id:
            counts.skipped += 1  # an app, or a device-based license: not ours to show
            continue
        if not client_user_id.startswith(prefix):
            counts.foreign += 1
            continue
        counts.ours += 1
        wanted[(ebook_id, client_user_id)] = None
    if not wanted:
        return counts
    users = _apple_users_for(token, {client_user_id for _, client_user_id in wanted}, seen_at)
    License.objects.bulk_create(
        [
            License(
                token=token,
                ebook_id=ebook_id,
                apple_user_id=users[client_user_id][0],
                person_id=users[client_user_id][1],
                state=License.State.ASSIGNED,
                assigned_at=seen_at,
            )
            for ebook_id, client_user_id in wanted
        ],
        update_conflicts=True,
        unique_fields=["ebook", "apple_user"],
        update_fields=["state", "error_number", "error_message", "updated_at"],
    )
    return counts


def _apple_users_for(
    token: VppToken, client_user_ids: set[str], seen_at: datetime
) -> dict[str, tuple[int, int | None]]:
    """clientUserId → (AppleUser id, person id); ours Apple knows but we lost are re-created."""
    found = {
        client_user_id: (pk, person_id)
        for pk, client_user_id, person_id in AppleUser.objects.filter(
            token=token, client_user_id__in=client_user_ids
        ).values_list("pk", "client_user_id", "person_id")
    }
    missing = client_user_ids - found.keys()
    if missing:
        # The users pass (which runs first) lists active users only, so one of ours that holds
        # a license but was not listed has been retired; books stay with retired users.
        AppleUser.objects.bulk_create(
            [
                AppleUser(
                    token=token,
                    client_user_id=client_user_id,
                    status=AppleUser.Status.RETIRED,
                    last_seen_at=seen_at,
                )
                for client_user_id in missing
            ],
            ignore_conflicts=True,
        )
        found.update(
            (client_user_id, (pk, person_id))
            for pk, client_user_id, person_id in AppleUser.objects.filter(
                token=token, client_user_id__in=missing
            ).values_list("pk", "client_user_id", "person_id")
        )
    return found
