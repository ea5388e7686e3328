"""A book's license counts as Apple last stated them, with their "as of" time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from apple.client import AppleClient
from apple.types import Asset
from ebooks.models import EBook
from tokens.models import VppToken

INT32_MAX = 2_147_483_647
FIELDS = ("total_count", "assigned_count", "available_count", "retired_count", "counts_as_of")


def _count(value: int | None) -> int:
    return max(0, min(value or 0, INT32_MAX))


def ebooks_counts_apply(
    *, token: VppToken, assets: Sequence[Asset], at: datetime, stamp_all: bool = False
) -> int:
    """Store Apple's counts for the token's books among these assets; returns books updated.

    Only books whose counts moved are written (plus their "as of" time), so reading the whole
    token's assets costs one SELECT of four integers per book, not an UPDATE of each.
    """
    by_key = {a.key: a for a in assets}
    current = EBook.objects.filter(token=token, adam_id__in={k.adam_id for k in by_key})
    changed, same = [], []
    stamp = connection.ops.adapt_datetimefield_value(at)
    for pk, adam_id, pricing, *counts in current.values_list(
        "pk", "adam_id", "pricing_param", *FIELDS[:4]
    ):
        asset = by_key.get((adam_id, pricing))
        if asset is None:
            continue
        new = [
            _count(asset.total_count),
            _count(asset.assigned_count),
            _count(asset.available_count),
            _count(asset.retired_count),
        ]
        if new != counts:
            changed.append((*new, stamp, pk))
        else:
            same.append(pk)
    if changed:
        # One prepared UPDATE per row: bulk_update's CASE per column grows with the batch.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {EBook._meta.db_table} SET total_count = %s, assigned_count = %s, "  # noqa: S608
                "available_count = %s, retired_count = %s, counts_as_of = %s WHERE id = %s",
                changed,
            )
    if stamp_all and same:
        EBook.objects.filter(pk__in=same).update(counts_as_of=at)
    return len(changed)


def ebooks_counts_refresh(
    *, token: VppToken, client: AppleClient, ebook_ids: set[int], at: datetime
) -> int:
    """Re-read these books' counts from Apple (one read per book, or one listing for many)."""
    books = list(EBook.objects.filter(pk__in=ebook_ids).values_list("adam_id", "pricing_param"))
    if not books:
        return 0
    if len(books) <= 5:
        assets = [
            asset
            for adam_id, pricing in books
            for asset in client.assets(adam_id=adam_id, pricing_param=pricing)
        ]
    else:
        assets = list(client.assets(product_type="Book", parallel=5))
    return ebooks_counts_apply(token=token, assets=assets, at=at, stamp_all=True)
