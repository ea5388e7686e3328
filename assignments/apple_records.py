"""Writes of what Apple reports about our users and the licenses they hold (used by the sync).

Only rows whose clientUserId carries this installation's prefix are ours (rule 4); the others
were registered by another product and are counted, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from apple.types import Assignment, User
from assignments.bulk_sql import (
    apple_user_ids_resolve,
    apple_users_upsert_rows,
    licenses_assigned_upsert,
)
from assignments.models import AppleUser
from tokens.crypto import encrypter
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
    orphans: int | None = None  # licenses written that point at nothing (None: not checked)


def apple_users_upsert(
    *, token: VppToken, users: Iterable[User], prefix: str, seen_at: datetime
) -> PageCounts:
    """Store the status Apple gives for our users; count the others."""
    counts = PageCounts()
    encrypt = encrypter()  # raw SQL writes: encrypted here, as the model field does
    ours: dict[str, tuple[str, str, str, str, str]] = {}
    for user in users:
        if not user.client_user_id.startswith(prefix):
            counts.foreign += 1
            continue
        counts.ours += 1
        status = APPLE_STATUS.get(user.status, AppleUser.Status.REGISTERED)
        current = ours.get(user.client_user_id)
        if current is not None and _STATUS_RANK.get(current[2], 0) >= _STATUS_RANK.get(status, 0):
            continue
        invite = user.invite_code if status != AppleUser.Status.ASSOCIATED else ""
        ours[user.client_user_id] = (
            user.client_user_id,
            (user.email or "")[:254],
            status,
            encrypt(invite) if invite else "",
            (user.id_hash or "")[:200],
        )
    apple_users_upsert_rows(token_id=token.pk, rows=list(ours.values()), seen_at=seen_at)
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
    user_ids: dict[str, tuple[int, int | None]],
    prefix: str,
    seen_at: datetime,
    check: bool = False,
) -> PageCounts:
    """Record the book licenses Apple says our users hold (a batch of assignment pages).

    user_ids maps clientUserId → (Apple user id, person id): a full run reads it once
    (apple_user_ids); what it lacks is looked up, or added as a retired user, and kept in it.
    """
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
    unknown = [c for _, c in wanted if c not in user_ids]
    if unknown:
        user_ids.update(
            apple_user_ids_resolve(token_id=token.pk, client_user_ids=unknown, at=seen_at)
        )
    rows = [(ebook_id, *user_ids[c]) for ebook_id, c in wanted]
    counts.orphans = licenses_assigned_upsert(token_id=token.pk, rows=rows, at=seen_at, check=check)
    return counts
