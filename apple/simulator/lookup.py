"""The legacy store look-up (`contentMetadataLookup`) for books and apps the simulator knows."""

from __future__ import annotations

from typing import Any

ARTWORK_SIZE = {"ebook": (600, 900), "software": (1024, 1024)}
STOREFRONTS = {"us": "143441", "gb": "143444", "de": "143443", "fr": "143442", "ca": "143455"}


def synthetic_metadata(adam_id: str, product_type: str) -> dict[str, Any]:
    """Plausible metadata for generated titles that have none in a catalogue."""
    n = int(adam_id) % 100000 if adam_id.isdigit() else 0
    book = product_type == "Book"
    return {
        "productType": product_type,
        "name": f"{'Synthetic Book' if book else 'Synthetic App'} {n}",
        "artistName": f"Generated Author {n % 997}",
        "genreNames": ["Fiction & Literature"] if book else ["Education"],
        "description": f"A generated title ({adam_id}) for benchmarks and demos.",
        "releaseDate": f"{2000 + n % 25}-01-01",
    }


def item_json(adam_id: str, meta: dict[str, Any], *, base_url: str, cc: str) -> dict[str, Any]:
    """One `results` entry in the legacy look-up shape."""
    kind = "ebook" if meta.get("productType", "Book") == "Book" else "software"
    width, height = ARTWORK_SIZE[kind]
    section = "book" if kind == "ebook" else "app"
    return {
        "id": adam_id,
        "name": meta.get("name") or adam_id,
        "artistName": meta.get("artistName") or "",
        "kind": kind,
        "genreNames": list(meta.get("genreNames") or []),
        "description": meta.get("description") or "",
        "artwork": {
            "url": f"{base_url}/artwork/{adam_id}/{{w}}x{{h}}bb.{{f}}",
            "width": width,
            "height": height,
        },
        "url": f"https://{section}s.apple.com/{cc}/{section}/id{adam_id}",
        "releaseDate": meta.get("releaseDate") or "",
    }


def lookup_body(
    ids: list[str], metadata: dict[str, dict[str, Any]], *, base_url: str, cc: str, language: str
) -> dict[str, Any]:
    """The whole response: unknown ids are simply absent from `results`."""
    results = {
        adam_id: item_json(adam_id, metadata[adam_id], base_url=base_url, cc=cc)
        for adam_id in ids
        if adam_id in metadata
    }
    return {
        "results": results,
        "version": 2,
        "isAuthenticated": False,
        "meta": {
            "storefront": {"id": STOREFRONTS.get(cc, "143441"), "cc": cc},
            "language": {"tag": language},
        },
    }
