"""A book's license counts as Apple last stated them, with their "as of" time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from apple.client import AppleClient
from apple.types import Asset
from ebooks.models import EBook
from tokens.models import VppToken

INT32_MAX = 2_147_483_647
FIELDS = ("total_count", "assigned_count", "available_count", "retired_count", "counts_as_of")


def _count(value: int | None) -> int:
    return max(0, min(value or 0, INT32_MAX))


def ebooks_counts_apply(*, token: VppToken, assets: Sequence[Asset], at: datetime) -> int:
    """Store Apple's counts for the token's books among these assets; returns books updated."""
    by_key = {a.key: a for a in assets}
    books = list(
        EBook.objects.filter(token=token, adam_id__in={k.adam_id for k in by_key}).only(
            "pk", "adam_id", "pricing_param", *FIELDS
        )
    )
    changed = []
    for book in books:
        asset = by_key.get((book.adam_id, book.pricing_param))
        if asset is None:
            continue
        book.total_count = _count(asset.total_count)
        book.assigned_count = _count(asset.assigned_count)
        book.available_count = _count(asset.available_count)
        book.retired_count = _count(asset.retired_count)
        book.counts_as_of = at
        changed.append(book)
    EBook.objects.bulk_update(changed, FIELDS, batch_size=500)
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
    return ebooks_counts_apply(token=token, assets=assets, at=at)
