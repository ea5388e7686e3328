"""Parsing store metadata look-ups: Apple's legacy lookup and the public iTunes lookup."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

from apple.types import BookMetadata

__all__ = ["ARTWORK_SIZE", "clean_text", "parse_lookup", "pick_artwork"]

# Covers are shown in lists and detail pages; ~600 px is sharp without being heavy.
ARTWORK_SIZE = 600

# iTunes image URLs end in e.g. /100x100bb.jpg; the store serves any size for the same path.
_SIZED_URL = re.compile(r"/(\d+)x(\d+)(bb|cc|sr)?\.(\w+)$")
_KEPT_CONTROLS = {"\n", "\t"}


def clean_text(value: Any, *, multiline: bool = False) -> str:
    """Store text without NUL or other control characters (PostgreSQL refuses NUL in text).

    A title with a NUL made every sync of its token fail; one line unless multiline.
    """
    text = str(value or "").replace("\r\n", "\n")
    kept = _KEPT_CONTROLS if multiline else set()
    text = "".join(
        char if char in kept or unicodedata.category(char) not in {"Cc", "Cs"} else " "
        for char in text
    )
    return text.strip() if multiline else " ".join(text.split())


def parse_lookup(data: Mapping[str, Any]) -> Iterator[BookMetadata]:
    """Yield metadata for each item in either response shape; unusable items are skipped."""
    results = data.get("results")
    if isinstance(results, Mapping):  # legacy: {"results": {"<adamId>": {...}}}
        for adam_id, item in results.items():
            if isinstance(item, Mapping):
                yield _legacy_item(str(adam_id), item)
    elif isinstance(results, list):  # public iTunes: {"resultCount": n, "results": [{...}]}
        for item in results:
            adam_id = isinstance(item, Mapping) and (item.get("trackId") or item.get("id"))
            if adam_id:
                yield _itunes_item(clean_text(adam_id), item)


def _legacy_item(adam_id: str, item: Mapping[str, Any]) -> BookMetadata:
    """One item of Apple's legacy contentMetadataLookup."""
    return BookMetadata(
        adam_id=clean_text(item.get("id") or adam_id),
        title=clean_text(item.get("name")),
        author=clean_text(item.get("artistName")),
        genres=_genres(item.get("genreNames") or item.get("genres")),
        description=_description(item.get("description")),
        artwork_url=pick_artwork(item.get("artwork")),
        kind=str(item.get("kind") or ""),
        release_date=item.get("releaseDate"),
        store_url=item.get("url"),
    )


def _itunes_item(adam_id: str, item: Mapping[str, Any]) -> BookMetadata:
    """One result of the public iTunes lookup."""
    sized = [item.get(key) for key in ("artworkUrl512", "artworkUrl100", "artworkUrl60")]
    return BookMetadata(
        adam_id=adam_id,
        title=clean_text(item.get("trackName") or item.get("collectionName")),
        author=clean_text(item.get("artistName")),
        genres=_genres(item.get("genres")),
        description=_description(item.get("description")),
        artwork_url=pick_artwork([url for url in sized if url]),
        kind=str(item.get("kind") or ""),
        release_date=item.get("releaseDate"),
        store_url=item.get("trackViewUrl"),
    )


def _genres(value: Any) -> tuple[str, ...]:
    """Genre names from a list of strings or of {"name": ...} objects."""
    if not isinstance(value, list):
        return ()
    names = (g.get("name") if isinstance(g, Mapping) else g for g in value)
    return tuple(clean_text(name) for name in names if name)


def _description(value: Any) -> str:
    """A description given as a string or as {"standard": ...}."""
    if isinstance(value, Mapping):
        value = value.get("standard") or value.get("short") or ""
    return clean_text(value, multiline=True)


def pick_artwork(artwork: Any, size: int = ARTWORK_SIZE) -> str | None:
    """A cover URL near `size` px from a template object, a list of sized URLs, or one URL."""
    if isinstance(artwork, Mapping):
        return _from_template(artwork, size)
    if isinstance(artwork, str):
        return _resize(artwork, size)
    if isinstance(artwork, list):
        return _closest(artwork, size)
    return None


def _from_template(artwork: Mapping[str, Any], size: int) -> str | None:
    """Fill a `{w}x{h}bb.{f}` template, keeping the aspect ratio and never upscaling."""
    url = artwork.get("url")
    if not isinstance(url, str) or not url:
        return None
    if "{w}" not in url:
        return url
    width, height = _positive(artwork.get("width")), _positive(artwork.get("height"))
    w = min(size, width) if width else size
    h = round(w * height / width) if width and height else w
    return (
        url.replace("{w}", str(w)).replace("{h}", str(h)).replace("{c}", "bb").replace("{f}", "jpg")
    )


def _closest(candidates: list[Any], size: int) -> str | None:
    """From sized URLs, the smallest at least `size` wide, else the largest (resized if we can)."""
    sized: list[tuple[int, str]] = []
    for entry in candidates:
        url, width = _url_and_width(entry)
        if url:
            sized.append((width, url))
    if not sized:
        return None
    big_enough = [item for item in sized if item[0] >= size]
    if big_enough:
        return min(big_enough)[1]
    return _resize(max(sized)[1], size)


def _url_and_width(entry: Any) -> tuple[str | None, int]:
    """URL and pixel width of one artwork entry: a string or {url, width, height}."""
    if isinstance(entry, Mapping):
        url = entry.get("url")
        width = _positive(entry.get("width"))
        if isinstance(url, str) and "{w}" in url:
            return _from_template(entry, ARTWORK_SIZE), ARTWORK_SIZE
    else:
        url, width = entry, None
    if not isinstance(url, str) or not url:
        return None, 0
    match = _SIZED_URL.search(url)
    return url, width or (int(match.group(1)) if match else 0)


def _resize(url: str, size: int) -> str:
    """Ask Apple's image server for `size` px instead of the size in the URL."""
    return _SIZED_URL.sub(lambda m: f"/{size}x{size}bb.{m.group(4)}", url, count=1)


def _positive(value: Any) -> int | None:
    """A positive int, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
