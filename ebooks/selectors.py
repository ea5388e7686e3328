"""Reads of the catalogue."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.db.models.lookups import LessThan

from ebooks.models import EBook
from tokens.models import VppToken


def ebook_keys(*, token: VppToken) -> dict[tuple[str, str], int]:
    """(adamId, pricingParam) → EBook id for a token (a few thousand entries at most)."""
    return {
        (adam_id, pricing): pk
        for pk, adam_id, pricing in EBook.objects.filter(token=token).values_list(
            "pk", "adam_id", "pricing_param"
        )
    }


def ebooks_needing_metadata(*, token: VppToken, stale_before: datetime) -> QuerySet[EBook]:
    """Books present in the token that lack store metadata or whose copy is older than allowed."""
    return EBook.objects.filter(token=token, gone_at__isnull=True).filter(
        Q(metadata_fetched_at__isnull=True) | Q(metadata_fetched_at__lt=stale_before)
    )


def ebook_count(*, token: VppToken) -> int:
    """Books currently in the token (for the token list)."""
    return EBook.objects.filter(token=token, gone_at__isnull=True).count()


# Running low by default: fewer than 10 % of the licenses left, or 5 or fewer.
LOW_PERCENT = 10
LOW_LEFT = 5


def ebook_stock_q(*, level: str) -> Q:
    """Books by availability: "none" left, "low" (per-book threshold or default) or "plenty"."""
    # A per-book threshold is the reports app's StockThreshold, reached by its reverse name so
    # this app imports nothing above it.
    limited = Q(unlimited=False)
    custom = Q(stock_threshold__isnull=False) & Q(
        available_count__lt=F("stock_threshold__low_below")
    )
    default = Q(stock_threshold__isnull=True) & (
        Q(available_count__lte=LOW_LEFT) | Q(LessThan(F("available_count") * 100, _percent()))
    )
    if level == "none":
        return limited & Q(available_count=0)
    if level == "low":
        return limited & Q(available_count__gt=0) & (custom | default)
    if level == "plenty":
        return Q(unlimited=True) | (Q(available_count__gt=0) & ~(custom | default))
    raise ValueError(f"unknown stock level {level!r}")


def _percent():
    return F("total_count") * LOW_PERCENT


def ebook_is_low(*, ebook: EBook, low_below: int | None = None) -> bool:
    """The same rule as ebook_stock_q("low") for one book in memory."""
    if ebook.unlimited or ebook.available_count == 0:
        return False
    if low_below is not None:
        return ebook.available_count < low_below
    return (
        ebook.available_count <= LOW_LEFT
        or ebook.available_count * 100 < ebook.total_count * LOW_PERCENT
    )
