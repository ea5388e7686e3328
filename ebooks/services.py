"""Writes to the catalogue: what Apple reports about a token's books."""

from __future__ import annotations

import io
import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection
from django.db.models import Q
from PIL import Image

from apple.types import Asset, BookMetadata
from config.bulk import rows_upsert
from ebooks.models import EBook
from tokens.models import VppToken

BOOK = "Book"
MAX_COVER_BYTES = 512 * 1024
MAX_COVER_PIXELS = 4096 * 4096
RASTER_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
# What the portal serves after re-encoding; anything else stored earlier is fetched again.
SERVED_COVER_TYPES = {"image/png", "image/jpeg"}
INT32_MAX = 2_147_483_647


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0


def _count(value: int | None) -> int:
    return max(0, min(value or 0, INT32_MAX))


_COUNT_FIELDS = ("total_count", "assigned_count", "available_count", "retired_count")
_ADAM_ID, _PRICING_PARAM = (EBook._meta.get_field(name) for name in ("adam_id", "pricing_param"))


def _storable(asset: Asset) -> bool:
    """Apple's ids as the columns hold them: an id with a NUL or longer than any Apple uses is
    garbage, skipped (PostgreSQL refused it, and with it every sync of the token)."""
    return all(
        "\x00" not in value and len(value) <= field.max_length
        for value, field in ((asset.adam_id, _ADAM_ID), (asset.pricing_param, _PRICING_PARAM))
    )


def ebooks_upsert(*, token: VppToken, assets: list[Asset], seen_at: datetime) -> UpsertCounts:
    """Insert or update one page of assets; apps are skipped (rule 5: books only).

    Books we know are refreshed by one set-based UPDATE (a sync touches every book's counts
    and timestamps); new ones are inserted by rows_upsert, which gives the columns other apps
    add their model defaults.
    """
    books = {
        asset.key: asset for asset in assets if asset.product_type == BOOK and _storable(asset)
    }
    counts = UpsertCounts()
    if not books:
        return counts
    existing = {
        (row[1], row[2]): row
        for row in EBook.objects.filter(
            token=token, adam_id__in={key.adam_id for key in books}
        ).values_list(
            "pk",
            "adam_id",
            "pricing_param",
            "total_count",
            "assigned_count",
            "available_count",
            "retired_count",
            "gone_at",
        )
    }
    new, known = [], []
    at = connection.ops.adapt_datetimefield_value(seen_at)  # as the ORM stores it
    for key, asset in books.items():
        values = (
            _count(asset.total_count),
            _count(asset.assigned_count),
            _count(asset.available_count),
            _count(asset.retired_count),
        )
        before = existing.get(tuple(key))
        if before is None:
            counts.added += 1
            new.append(
                {
                    "token": token.pk,
                    "adam_id": key.adam_id,
                    "pricing_param": key.pricing_param,
                    "unlimited": asset.unlimited,
                    "last_synced_at": at,
                    "counts_as_of": at,
                    "gone_at": None,
                    **dict(zip(_COUNT_FIELDS, values, strict=True)),
                }
            )
            continue
        if before[7] is not None or before[3:7] != values:
            counts.updated += 1
        known.append((before[0], *values, asset.unlimited))
    if new:
        # A concurrent run may have added the same book: theirs stands, ours refreshes it.
        rows_upsert(
            EBook,
            conflict=("token", "adam_id", "pricing_param"),
            update=(*_COUNT_FIELDS, "unlimited", "last_synced_at", "counts_as_of", "gone_at"),
            rows=new,
        )
    if known:
        _ebooks_refresh(rows=known, at=at)
    return counts


def _ebooks_refresh(*, rows: list[tuple], at) -> None:
    """(id, total, assigned, available, retired, unlimited) rows: counts, seen at `at` (as
    the ORM stores it), not gone."""
    table = EBook._meta.db_table
    columns = (
        "total_count = %s, assigned_count = %s, available_count = %s, retired_count = %s, "
        "unlimited = %s, last_synced_at = %s, counts_as_of = %s, gone_at = NULL"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, totals, assigned, available, retired, unlimited = map(
                list, zip(*rows, strict=True)
            )
            cursor.execute(
                f"UPDATE {table} AS e SET total_count = u.t, assigned_count = u.a, "  # noqa: S608
                "available_count = u.v, retired_count = u.r, unlimited = u.n, "
                "last_synced_at = %s, counts_as_of = %s, gone_at = NULL "
                "FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[], %s::int[], "
                "%s::boolean[]) AS u(id, t, a, v, r, n) WHERE e.id = u.id",
                [at, at, ids, totals, assigned, available, retired, unlimited],
            )
            return
        cursor.executemany(
            f"UPDATE {table} SET {columns} WHERE id = %s",  # noqa: S608 - our table
            [(*values, unlimited, at, at, pk) for pk, *values, unlimited in rows],
        )


def ebooks_mark_gone(*, token: VppToken, not_seen_since: datetime, now: datetime) -> int:
    """Mark books a complete asset listing no longer shows; they are kept, never deleted."""
    return (
        EBook.objects.filter(token=token, gone_at__isnull=True)
        .filter(Q(last_synced_at__lt=not_seen_since) | Q(last_synced_at__isnull=True))
        .update(gone_at=now)
    )


def ebooks_metadata_apply(
    *, token: VppToken, metadata: dict[str, BookMetadata], fetched_at: datetime
) -> int:
    """Store titles, authors, genres, descriptions and cover URLs; returns books updated."""
    books = EBook.objects.filter(token=token, adam_id__in=list(metadata))
    fetched_at = connection.ops.adapt_datetimefield_value(fetched_at)  # as the ORM stores it
    keep_cover, new_cover = [], []
    for pk, adam_id, artwork_url in books.values_list("pk", "adam_id", "artwork_url"):
        meta = metadata[adam_id]
        text = (meta.title[:500], meta.author[:300], ", ".join(meta.genres)[:300])
        if meta.artwork_url and meta.artwork_url != artwork_url:
            # The cover is fetched again on next view.
            new_cover.append((*text, meta.description, fetched_at, meta.artwork_url[:1000], pk))
        else:
            keep_cover.append((*text, meta.description, fetched_at, pk))
    # One parameterised UPDATE per book, sent as a batch: bulk_update's CASE expressions took
    # a quarter of a second per hundred books to build and run.
    table = EBook._meta.db_table
    text_columns = (
        "title = %s, author = %s, genres = %s, description = %s, metadata_fetched_at = %s"
    )
    with connection.cursor() as cursor:
        if keep_cover:
            cursor.executemany(
                f"UPDATE {table} SET {text_columns} WHERE id = %s",  # noqa: S608 - our table
                keep_cover,
            )
        if new_cover:
            cursor.executemany(
                f"UPDATE {table} SET {text_columns}, "  # noqa: S608 - our table
                "artwork_url = %s, cover = NULL, cover_type = '' WHERE id = %s",
                new_cover,
            )
    return len(keep_cover) + len(new_cover)


def ebooks_metadata_mark_checked(*, token: VppToken, adam_ids: list[str], at: datetime) -> int:
    """Remember that the store was asked about these books, found or not."""
    return EBook.objects.filter(token=token, adam_id__in=adam_ids).update(metadata_fetched_at=at)


def ebook_cover(*, ebook: EBook, timeout: float = 10.0) -> tuple[bytes, str] | None:
    """The cover image, fetched once from an allowed artwork host, checked, re-encoded, kept."""
    if ebook.cover and ebook.cover_type in SERVED_COVER_TYPES:
        return bytes(ebook.cover), ebook.cover_type
    if not artwork_url_allowed(ebook.artwork_url):
        return None
    try:
        # No redirects: a redirect could lead anywhere, past the host check.
        response = requests.get(
            ebook.artwork_url, timeout=timeout, stream=True, allow_redirects=False
        )
        response.raise_for_status()
        if response.status_code != 200:
            return None
        data = response.raw.read(MAX_COVER_BYTES + 1, decode_content=True)
    except (requests.RequestException, OSError):
        return None
    if len(data) > MAX_COVER_BYTES:
        return None
    cover = cover_reencode(data)
    if cover is None:
        return None
    EBook.objects.filter(pk=ebook.pk).update(cover=cover[0], cover_type=cover[1])
    return cover


def artwork_url_allowed(url: str) -> bool:
    """True for http(s) URLs on VPP_ARTWORK_HOSTS that do not lead into our own network.

    A host listed exactly as an IP address or `localhost` (the simulator) may be private; any
    other host must resolve only to public addresses.
    """
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in {"http", "https"} or not host:
        return False
    allowed = [entry.lower().lstrip("*").lstrip(".") for entry in settings.VPP_ARTWORK_HOSTS]
    if not any(host == entry or host.endswith("." + entry) for entry in allowed):
        return False
    if host in allowed and (host == "localhost" or _is_ip(host)):
        return True  # configured on purpose, e.g. the simulator on 127.0.0.1
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)}
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(ipaddress.ip_address(a).is_global for a in addresses)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def cover_reencode(data: bytes) -> tuple[bytes, str] | None:
    """A raster image (PNG, JPEG, WebP, GIF by its bytes, not its label) re-encoded by Pillow.

    Re-encoding drops anything that is not pixels (scripts, polyglot tails, metadata).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in RASTER_FORMATS:
                return None
            width, height = image.size
            if width * height > MAX_COVER_PIXELS:
                return None
            image.load()
            out = io.BytesIO()
            if image.format == "JPEG":
                image.convert("RGB").save(out, format="JPEG", quality=88)
                return out.getvalue(), "image/jpeg"
            mode = "RGBA" if image.mode in {"RGBA", "LA", "P", "PA"} else "RGB"
            image.convert(mode).save(out, format="PNG", optimize=True)
            return out.getvalue(), "image/png"
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
