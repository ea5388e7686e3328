"""Starting catalogues: the shipped demo, a JSON file of the same shape, or a generated one.

Catalogue JSON::

    {"settings": {"countryISO2ACode": "US", "defaultPlatform": "volumestore", ...},
     "items": [{"adamId": "1104589231", "productType": "Book" | "App", "name", "artistName",
                "genreNames": [...], "description", "releaseDate": "1813-01-28",
                "revocable"?: bool, "deviceAssignable"?: bool,
                "licenses": [{"pricingParam": "STDQ" | "PLUS", "totalCount": 1200,
                              "retiredCount"?: 0}]}],
     "users": [{"clientUserId", "email"?, "managedAppleId"?, "status"?: "Retired"}],
     "assignments": [{"adamId", "pricingParam", "clientUserId" | "serialNumber"}]}

Books default to revocable=false, deviceAssignable=false; apps to true, true. Assigned counts
come from the assignments; `availableCount = totalCount - assigned - retired`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apple.simulator.store import RETIRED, Asset, Location

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")


class CatalogError(ValueError):
    """The catalogue file is not usable."""


def load_catalog(source: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    """Read a catalogue (None = the shipped demo)."""
    if isinstance(source, dict):
        return source
    path = Path(source) if source is not None else DEMO_CATALOG
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read catalogue {path}: {exc}") from exc


def metadata_from_catalog(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """adamId -> store metadata for the look-up."""
    keys = ("productType", "name", "artistName", "genreNames", "description", "releaseDate")
    return {str(item["adamId"]): {k: item.get(k) for k in keys} for item in data.get("items", [])}


def template_from_catalog(data: dict[str, Any]) -> Location:
    """Build the template location every new `uId` is seeded from."""
    loc = Location()
    loc.settings.update(data.get("settings", {}))
    version = loc.counter
    for item in data.get("items", []):
        book = item.get("productType", "Book") == "Book"
        for lic in item.get("licenses", [{"pricingParam": "STDQ", "totalCount": 100}]):
            loc.add_asset(
                Asset(
                    adam_id=str(item["adamId"]),
                    pricing_param=lic.get("pricingParam", "STDQ"),
                    product_type="Book" if book else "App",
                    revocable=bool(item.get("revocable", not book)),
                    device_assignable=bool(item.get("deviceAssignable", not book)),
                    total=int(lic.get("totalCount", 0)),
                    retired=int(lic.get("retiredCount", 0)),
                    platforms=tuple(item.get("supportedPlatforms", ["iOS", "macOS"])),
                )
            )
    for user in data.get("users", []):
        row = loc.add_user(
            user["clientUserId"],
            email=user.get("email"),
            managed=user.get("managedAppleId"),
            version=version,
        )
        if user.get("status") == "Retired":
            loc.set_status(row, RETIRED, version)
    for entry in data.get("assignments", []):
        key = (str(entry["adamId"]), entry.get("pricingParam", "STDQ"))
        if key not in loc.asset_index:
            raise CatalogError(f"assignment for unknown asset {key}")
        index = loc.asset_index[key]
        asset = loc.assets[index]
        if "serialNumber" in entry:
            loc.assign(index, serial=loc.serial_row(entry["serialNumber"]), version=version)
        else:
            rows = [i for i, c in enumerate(loc.users.cuid) if c == entry["clientUserId"]]
            if not rows:
                raise CatalogError(f"assignment for unknown user {entry['clientUserId']}")
            loc.assign(index, user=rows[-1], version=version)
        asset.assigned += 1
        if asset.total < asset.assigned + asset.retired:
            raise CatalogError(f"asset {key} has more assignments than licenses")
    return loc
