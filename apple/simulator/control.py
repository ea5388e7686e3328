"""Control endpoints under `/_sim/` (no auth; the server listens on loopback). JSON in and out.

- `GET /_sim/health`: liveness and a summary (locations, assignments, page size, faults).
- `GET /_sim/locations`: every location with counts, versionId and mdmInfo.
- `POST /_sim/tokens {org, location, days?, expired?, expiresAt?}`: issue a token;
  answers `{token, uId, expDate, orgName}`.
- `POST /_sim/revoke {token}`: revoke it (9625 from now on).
- `POST /_sim/claim {token, mdmInfo?}`: another product claims the location.
- `POST /_sim/release {token}`: clear the location's mdmInfo.
- `GET | POST | DELETE /_sim/faults`: list / set (`{spec, append?}` or
  `{faults: [{kind, p?, next?, retry_after?, delay?, path?, method?}]}`) / clear faults.
- `GET | POST /_sim/config {pageSize?, eventDelay?, limits?}`: read / change settings.
- `POST /_sim/assignments {token | uId, count, prefix?, adamId?, pricingParam?}`: add book
  assignments from outside (to our users without that book, then to new users).
- `POST /_sim/license-count {token | uId, adamId, pricingParam?, delta}`: licenses bought (+)
  or moved to another location (-).
- `POST /_sim/transfer-out {token | uId, adamId, pricingParam?}`: every license of the asset moved
  to another location; it leaves Get Assets.
- `POST /_sim/accept-invitation {inviteCode}`: the invited user accepts.
- `POST /_sim/save`: write the state file now.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from apple.simulator.faults import FaultSpecError, rule_from_dict
from apple.simulator.tokens import decode_file

if TYPE_CHECKING:
    from apple.simulator.simulator import Simulator


class ControlError(Exception):
    """A bad control request (HTTP 400)."""


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ControlError("body must be JSON") from exc
    if not isinstance(data, dict):
        raise ControlError("body must be a JSON object")
    return data


def _need(data: dict[str, Any], key: str) -> Any:
    if data.get(key) in (None, ""):
        raise ControlError(f"{key} is required")
    return data[key]


def _target(data: dict[str, Any]) -> str:
    target = data.get("token") or data.get("uId")
    if not target:
        raise ControlError("token or uId is required")
    return str(target)


def handle(
    sim: Simulator, method: str, path: str, query: dict[str, str], raw: bytes
) -> tuple[int, Any]:
    """Answer one control request: (HTTP status, JSON)."""
    path = path.strip("/")
    try:
        handler = _ROUTES.get((method, path))
        if handler is None:
            known = {p for _m, p in _ROUTES}
            return (
                (405, {"error": "method not allowed"})
                if path in known
                else (404, {"error": "not found"})
            )
        return 200, handler(sim, _body(raw) if method in ("POST", "PUT") else dict(query))
    except ControlError as exc:
        return 400, {"error": str(exc)}
    except (FaultSpecError, ValueError, KeyError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}


def _health(sim: Simulator, _data: dict[str, Any]) -> dict[str, Any]:
    with sim.lock:
        return {
            "status": "ok",
            "locations": len(sim.state.locations),
            "assignments": sum(len(loc.assignments) for loc in sim.state.locations.values()),
            "pageSize": sim.page_size,
            "eventDelay": sim.event_delay,
            "faults": [r.as_dict() for r in sim.faults.rules()],
            "apiUrl": sim.api_url,
            "lookupUrl": sim.lookup_url,
        }


def _locations(sim: Simulator, _data: dict[str, Any]) -> list[dict[str, Any]]:
    with sim.lock:
        return [
            {
                "uId": loc.uid,
                "locationName": loc.name,
                "orgName": loc.org,
                "assets": len(loc.assets),
                "users": len(loc.users),
                "assignments": len(loc.assignments),
                "versionId": loc.version_id(),
                "mdmInfo": loc.mdm_info,
            }
            for loc in sim.state.locations.values()
        ]


def _tokens(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    token = sim.issue_token(
        org=str(data.get("org") or "Shelfkeeper Demo Org"),
        location=str(data.get("location") or "Main Library"),
        expires_at=data.get("expiresAt"),
        days=float(data.get("days") or 365),
        expired=bool(data.get("expired")),
    )
    outer = decode_file(token)
    return {
        "token": token,
        "uId": sim.claims(token).uid,
        "expDate": outer["expDate"],
        "orgName": outer["orgName"],
    }


def _revoke(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    sim.revoke(str(_need(data, "token")))
    return {"revoked": True}


def _claim(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    sim.claim_by_other(str(_need(data, "token")), data.get("mdmInfo"))
    return {"mdmInfo": sim.location(str(data["token"])).mdm_info}


def _release(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    sim.release_claim(str(_need(data, "token")))
    return {"mdmInfo": None}


def _faults_get(sim: Simulator, _data: dict[str, Any]) -> dict[str, Any]:
    return {"faults": [r.as_dict() for r in sim.faults.rules()]}


def _faults_set(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    if "faults" in data:
        rules = [rule_from_dict(r) for r in data["faults"]]
        sim.set_faults(rules, append=bool(data.get("append")))
    else:
        sim.set_faults(str(data.get("spec") or ""), append=bool(data.get("append")))
    return _faults_get(sim, data)


def _faults_clear(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    sim.clear_faults()
    return _faults_get(sim, data)


def _config_get(sim: Simulator, _data: dict[str, Any]) -> dict[str, Any]:
    return {"pageSize": sim.page_size, "eventDelay": sim.event_delay, "limits": dict(sim.limits)}


def _config_set(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    with sim.lock:
        if "pageSize" in data:
            size = int(data["pageSize"])
            if size < 1:
                raise ControlError("pageSize must be at least 1")
            sim.page_size = size
        if "eventDelay" in data:
            sim.set_event_delay(float(data["eventDelay"]))
        for key, value in (data.get("limits") or {}).items():
            if key not in sim.limits:
                raise ControlError(f"unknown limit {key}")
            sim.limits[key] = int(value)
    return _config_get(sim, data)


def _assignments(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    count = int(_need(data, "count"))
    target = _target(data)
    added = sim.add_assignments(
        target,
        count,
        prefix=str(data.get("prefix") or "shelfkeeper-"),
        adam_id=data.get("adamId"),
        pricing_param=data.get("pricingParam"),
    )
    with sim.lock:
        loc = sim.location(target)
        return {"added": added, "assignments": len(loc.assignments), "versionId": loc.version_id()}


def _license_count(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    asset = sim.change_license_count(
        _target(data),
        str(_need(data, "adamId")),
        str(data.get("pricingParam") or "STDQ"),
        int(_need(data, "delta")),
    )
    return {"asset": asset}


def _transfer_out(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    sim.transfer_out(
        _target(data), str(_need(data, "adamId")), str(data.get("pricingParam") or "STDQ")
    )
    return {"transferred": True}


def _accept(sim: Simulator, data: dict[str, Any]) -> dict[str, Any]:
    code = str(_need(data, "inviteCode"))
    try:
        return {"user": sim.accept_invitation(code)}
    except KeyError as exc:
        raise ControlError(f"unknown invitation code {code}") from exc


def _save(sim: Simulator, _data: dict[str, Any]) -> dict[str, Any]:
    sim.save()
    return {"saved": bool(sim.state_path), "path": str(sim.state_path) if sim.state_path else None}


_ROUTES = {
    ("GET", "health"): _health,
    ("GET", "locations"): _locations,
    ("POST", "tokens"): _tokens,
    ("POST", "revoke"): _revoke,
    ("POST", "claim"): _claim,
    ("POST", "release"): _release,
    ("GET", "faults"): _faults_get,
    ("POST", "faults"): _faults_set,
    ("DELETE", "faults"): _faults_clear,
    ("GET", "config"): _config_get,
    ("POST", "config"): _config_set,
    ("POST", "assignments"): _assignments,
    ("POST", "license-count"): _license_count,
    ("POST", "transfer-out"): _transfer_out,
    ("POST", "accept-invitation"): _accept,
    ("POST", "save"): _save,
}
