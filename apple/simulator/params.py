"""Query and body checks shared by the v2 handlers: booleans, integers, paging, asset and
holder lists with Apple's limits and duplicate rules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from apple.simulator.errors import ApiError
from apple.simulator.store import Location


def query_bool(query: dict[str, str], name: str) -> bool | None:
    """A true/false query parameter; 9602 for anything else."""
    value = query.get(name)
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(9602, f"{name} must be true or false.")


def query_int(query: dict[str, str], name: str) -> int | None:
    """An integer query parameter; 9602 if it is not one."""
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(9602, f"{name} must be an integer.") from exc


def page(rows: Sequence[Any], query: dict[str, str], size: int) -> tuple[Sequence[Any], dict]:
    """Zero-based paging; `nextPageIndex` only while more pages remain."""
    try:
        index = int(query.get("pageIndex") or 0)
    except ValueError as exc:
        raise ApiError(9650) from exc
    total_pages = math.ceil(len(rows) / size)
    if index < 0 or (index > 0 and index >= total_pages):
        raise ApiError(9650)
    chunk = rows[index * size : (index + 1) * size]
    fields: dict[str, Any] = {
        "currentPageIndex": index,
        "size": len(chunk),
        "totalPages": total_pages,
    }
    if index + 1 < total_pages:
        fields["nextPageIndex"] = index + 1
    return chunk, fields


def since(loc: Location, query: dict[str, str]) -> int | None:
    """The counter behind sinceVersionId, if given (9721 when invalid)."""
    text = query.get("sinceVersionId")
    return None if text in (None, "") else loc.parse_version_id(text)


def string_list(body: dict[str, Any], name: str) -> list[str]:
    """A body list of non-empty strings (empty when absent)."""
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(9602, f"{name} must be a list of non-empty strings.")
    return value


def asset_keys(loc: Location, body: dict[str, Any], limits: dict[str, int]) -> list[tuple]:
    """The (adamId, pricingParam) list of a ManageAssetsRequest: 9718, 9700, 9703, 9602."""
    raw = body.get("assets")
    if not raw:
        raise ApiError(9718)
    if not isinstance(raw, list) or not all(isinstance(a, dict) and a.get("adamId") for a in raw):
        raise ApiError(9602, "assets must be a list of {adamId, pricingParam}.")
    keys = [(str(a["adamId"]), str(a.get("pricingParam") or "STDQ")) for a in raw]
    if len(keys) > limits["maxAssets"]:
        raise ApiError(9700)
    if len(set(keys)) != len(keys):
        raise ApiError(9703, info={"assets": asset_info(dupes(keys))})
    unknown = [
        k for k in keys if k not in loc.asset_index or loc.assets[loc.asset_index[k]].transferred
    ]
    if unknown:
        raise ApiError(
            9602, "The location does not own these assets.", info={"assets": asset_info(unknown)}
        )
    return keys


def asset_info(keys: list[tuple]) -> list[dict[str, str]]:
    """errorInfo.assets for these keys."""
    return [{"adamId": a, "pricingParam": p} for a, p in keys]


def dupes(values: list) -> list:
    """Values that occur more than once, in first-seen order."""
    seen, dupes = set(), []
    for v in values:
        if v in seen and v not in dupes:
            dupes.append(v)
        seen.add(v)
    return dupes


def holders(body: dict[str, Any], limits: dict[str, int], *, revoke: bool = False) -> tuple:
    """clientUserIds and serialNumbers of a request: 9719, 9701/9702, 9704/9705."""
    cuids = string_list(body, "clientUserIds")
    serials = string_list(body, "serialNumbers")
    if not cuids and not serials:
        raise ApiError(9719)
    max_users = limits["maxRevokeClientUserIds" if revoke else "maxClientUserIds"]
    max_serials = limits["maxRevokeSerialNumbers" if revoke else "maxSerialNumbers"]
    if len(cuids) > max_users:
        raise ApiError(9701)
    if len(serials) > max_serials:
        raise ApiError(9702)
    if len(set(cuids)) != len(cuids):
        raise ApiError(9704, info={"clientUserIds": dupes(cuids)})
    if len(set(serials)) != len(serials):
        raise ApiError(9705, info={"serialNumbers": dupes(serials)})
    return cuids, serials
