"""Reads of the catalogue."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

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
