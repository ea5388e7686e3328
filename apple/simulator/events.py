"""Asynchronous work behind the v2 write endpoints, and Event Status.

A write request is validated synchronously, stored as an event (PENDING) and applied when it is
due (`event_delay` seconds later; at once when the delay is 0). Applying it fills
`numRequested`, `numCompleted` and `failures[]` (ErrorResponse objects with `errorInfo`); any
failure makes the event FAILED, possibly with part of the work done.
"""

from __future__ import annotations

import uuid
from typing import Any

from apple.simulator.errors import error_body
from apple.simulator.store import ASSOCIATED, REGISTERED, RETIRED, Location, id_hash_for

MAX_EVENTS = 20000  # oldest finished events are forgotten beyond this, per location


class _Failures:
    """Failures grouped per (errorNumber, asset) as Apple's errorInfo lists."""

    def __init__(self) -> None:
        self.groups: dict[tuple, dict[str, list]] = {}
        self.done: list = []  # what succeeded, for the notifications

    def add(
        self,
        number: int,
        *,
        asset: tuple[str, str] | None = None,
        cuid: str | None = None,
        serial: str | None = None,
    ) -> None:
        group = self.groups.setdefault((number, asset), {"clientUserIds": [], "serialNumbers": []})
        if cuid is not None:
            group["clientUserIds"].append(cuid)
        if serial is not None:
            group["serialNumbers"].append(serial)

    def as_list(self) -> list[dict[str, Any]]:
        out = []
        for (number, asset), group in self.groups.items():
            info: dict[str, Any] = {k: v for k, v in group.items() if v}
            if asset is not None:
                info["assets"] = [{"adamId": asset[0], "pricingParam": asset[1]}]
            out.append(error_body(number, info=info))
        return out


def new_event(
    loc: Location, event_type: str, payload: dict[str, Any], *, now: float, delay: float
) -> dict[str, Any]:
    """Store a PENDING event for this location."""
    event = {
        "eventId": str(uuid.uuid4()),
        "eventType": event_type,
        "eventStatus": "PENDING",
        "createdAt": now,
        "dueAt": now + delay,
        "payload": payload,
    }
    loc.events[event["eventId"]] = event
    loc.pending.append(event["eventId"])
    if len(loc.events) > MAX_EVENTS:
        for old in [
            k for k in list(loc.events)[: len(loc.events) - MAX_EVENTS] if k not in loc.pending
        ]:
            del loc.events[old]
    return event


def process_due(loc: Location, now: float) -> bool:
    """Apply every pending event of the location that is due, oldest first."""
    changed = False
    while loc.pending:
        event = loc.events.get(loc.pending[0])
        if event is not None and event["eventStatus"] == "PENDING":
            if event["dueAt"] > now:
                break
            apply(loc, event)
            changed = True
        loc.pending.pop(0)
    return changed


def run_through(loc: Location, event_id: str) -> None:
    """Apply pending events in order up to this one (a zero-delay write never overtakes)."""
    while loc.pending:
        current = loc.pending.pop(0)
        event = loc.events.get(current)
        if event is not None and event["eventStatus"] == "PENDING":
            apply(loc, event)
        if current == event_id:
            break


def status_json(event: dict[str, Any]) -> dict[str, Any]:
    """StatusResponse body (without the common uId/mdmInfo fields)."""
    out: dict[str, Any] = {"eventStatus": event["eventStatus"], "eventType": event["eventType"]}
    if event["eventStatus"] == "PENDING":
        out["numRequested"] = event.get("numRequested", _requested(event))
        out["numCompleted"] = 0
        return out
    out["numRequested"] = event["numRequested"]
    out["numCompleted"] = event["numCompleted"]
    if event.get("failures"):
        out["failures"] = event["failures"]
    return out


def _requested(event: dict[str, Any]) -> int:
    p = event["payload"]
    if "users" in p:
        return len(p["users"])
    return len(p.get("assets", [])) * (
        len(p.get("clientUserIds", [])) + len(p.get("serialNumbers", []))
    )


def apply(loc: Location, event: dict[str, Any]) -> None:
    """Do the work of one event and record the outcome."""
    handler = _HANDLERS[event["eventType"]]
    failures = _Failures()
    requested, completed = handler(loc, event["payload"], failures)
    event["numRequested"] = requested
    event["numCompleted"] = completed
    event["failures"] = failures.as_list()
    event["eventStatus"] = "FAILED" if event["failures"] else "COMPLETE"
    event.pop("payload", None)
    if len(loc.applied) < MAX_EVENTS:  # drained by the simulator after each request and tick
        loc.applied.append((event, failures.done))


def _associate(loc: Location, payload: dict[str, Any], failures: _Failures) -> tuple[int, int]:
    cuids, serials = payload.get("clientUserIds", []), payload.get("serialNumbers", [])
    requested = completed = 0
    version = loc.bump()
    for adam_id, pricing in payload["assets"]:
        index = loc.asset_index[(adam_id, pricing)]
        asset = loc.assets[index]
        key = (adam_id, pricing)
        for cuid in cuids:
            requested += 1
            row = loc.users.active.get(cuid)
            if row is None:
                failures.add(9609, asset=key, cuid=cuid)
            elif loc.holds(index, user=row):
                completed += 1  # already holds it: nothing to do, no license used
                failures.done.append((adam_id, pricing, cuid))
            elif asset.available <= 0:
                failures.add(9709, asset=key, cuid=cuid)
            else:
                loc.assign(index, user=row, version=version)
                asset.assigned += 1
                completed += 1
                failures.done.append((adam_id, pricing, cuid))
        for serial in serials:
            requested += 1
            srow = loc.serial_row(serial)
            if loc.holds(index, serial=srow):
                completed += 1
            elif asset.available <= 0:
                failures.add(9709, asset=key, serial=serial)
            else:
                loc.assign(index, serial=srow, version=version)
                asset.assigned += 1
                completed += 1
    return requested, completed


def _release(loc: Location, pairs: set[tuple[int, int, int]]) -> None:
    """Remove (asset, user, serial) assignments and give their licenses back."""
    if not pairs:
        return
    loc.release(lambda x, u, s: (x, u, s if u < 0 else -1) in pairs)
    for x, _u, _s in pairs:
        loc.assets[x].assigned -= 1


def _disassociate(loc: Location, payload: dict[str, Any], failures: _Failures) -> tuple[int, int]:
    cuids, serials = payload.get("clientUserIds", []), payload.get("serialNumbers", [])
    requested = completed = 0
    drop: set[tuple[int, int, int]] = set()
    for adam_id, pricing in payload["assets"]:
        index = loc.asset_index[(adam_id, pricing)]
        for cuid in cuids:
            requested += 1
            row = loc.users.active.get(cuid)
            if row is None:
                failures.add(9609, asset=(adam_id, pricing), cuid=cuid)
                continue
            if loc.holds(index, user=row):
                drop.add((index, row, -1))
            completed += 1
        for serial in serials:
            requested += 1
            srow = loc.serial_index.get(serial)
            if srow is not None and loc.holds(index, serial=srow):
                drop.add((index, -1, srow))
            completed += 1
    _release(loc, drop)
    if drop:
        loc.bump()
    return requested, completed


def _revoke(loc: Location, payload: dict[str, Any], failures: _Failures) -> tuple[int, int]:
    cuids, serials = payload.get("clientUserIds", []), payload.get("serialNumbers", [])
    rows = set()
    for cuid in cuids:
        row = loc.users.active.get(cuid)
        if row is None:
            failures.add(9609, cuid=cuid)
        else:
            rows.add(row)
    srows = {loc.serial_index[s] for s in serials if s in loc.serial_index}
    _revoke_rows(loc, rows, srows)
    return len(cuids) + len(serials), len(rows) + len(serials)


def _revoke_rows(loc: Location, rows: set[int], srows: set[int]) -> None:
    """Release every revocable license of these users/devices (books stay: irrevocable)."""
    if not rows and not srows:
        return
    a = loc.assignments
    drop = {
        (x, u, s if u < 0 else -1)
        for x, u, s in zip(a.asset, a.user, a.serial, strict=True)
        if loc.assets[x].revocable and ((u >= 0 and u in rows) or (u < 0 and s in srows))
    }
    _release(loc, drop)
    if drop:
        loc.bump()


def _create_users(loc: Location, payload: dict[str, Any], failures: _Failures) -> tuple[int, int]:
    completed = 0
    version = loc.bump()
    for user in payload["users"]:
        cuid = user["clientUserId"]
        if cuid in loc.users.active:
            failures.add(9716, cuid=cuid)
            continue
        loc.add_user(
            cuid, email=user.get("email"), managed=user.get("managedAppleId"), version=version
        )
        completed += 1
        failures.done.append(cuid)
    return len(payload["users"]), completed


def _update_users(loc: Location, payload: dict[str, Any], failures: _Failures) -> tuple[int, int]:
    completed = 0
    version = loc.bump()
    u = loc.users
    for user in payload["users"]:
        row = u.active.get(user["clientUserId"])
        if row is None:
            failures.add(9609, cuid=user["clientUserId"])
            continue
        if "email" in user:
            u.email[row] = user["email"]
        managed = user.get("managedAppleId")
        if managed:
            u.managed[row] = managed
            if u.status[row] == REGISTERED:
                u.id_hash[row] = id_hash_for(managed, loc.uid)
                loc.set_status(row, ASSOCIATED, version)
        u.version[row] = version
        completed += 1
    return len(payload["users"]), completed


def _retire_users(loc: Location, payload: dict[str, Any], failures: _Failures) -> tuple[int, int]:
    retired = set()
    version = loc.bump()
    for user in payload["users"]:
        row = loc.users.active.get(user["clientUserId"])
        if row is None:
            failures.add(9609, cuid=user["clientUserId"])
            continue
        loc.set_status(row, RETIRED, version)
        retired.add(row)
    _revoke_rows(loc, retired, set())
    return len(payload["users"]), len(retired)


_HANDLERS = {
    "ASSOCIATE": _associate,
    "DISASSOCIATE": _disassociate,
    "REVOKE": _revoke,
    "CREATE": _create_users,
    "UPDATE": _update_users,
    "RETIRE": _retire_users,
}
