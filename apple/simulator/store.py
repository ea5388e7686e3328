"""One location's library: assets, users and assignments (see tables.py), with queries,
versions and persistence."""

from __future__ import annotations

import base64
import binascii
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apple.simulator.errors import ApiError
from apple.simulator.tables import (
    ASSOCIATED,
    DELETED,
    INT32_MAX,
    REGISTERED,
    RETIRED,
    STATUS_NAMES,
    Asset,
    Assignments,
    Users,
    id_hash_for,
    invite_code_for,
)

__all__ = [
    "ASSOCIATED",
    "DELETED",
    "INT32_MAX",
    "REGISTERED",
    "RETIRED",
    "STATUS_NAMES",
    "Asset",
    "Assignments",
    "Location",
    "Users",
    "id_hash_for",
    "invite_code_for",
]

_DEVICE = 1 << 31  # key bit for a serial-number assignment


DEFAULT_SETTINGS: dict[str, Any] = {
    "countryISO2ACode": "US",
    "defaultPlatform": "volumestore",
    "websiteURL": "https://school.apple.com",
    "notificationUrl": None,
    "notificationAuthToken": None,
    "subscribedNotificationTypes": [],
}


@dataclass
class Location:
    """One library (`uId`): what one token sees."""

    uid: str = ""
    name: str = ""
    org: str = ""
    counter: int = 1
    mdm_info: dict[str, str] | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    assets: list[Asset] = field(default_factory=list)
    users: Users = field(default_factory=Users)
    assignments: Assignments = field(default_factory=Assignments)
    serials: list[str] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    asset_index: dict[tuple[str, str], int] = field(default_factory=dict)
    serial_index: dict[str, int] = field(default_factory=dict)
    _keys: set[int] | None = None
    _invites: dict[str, int] | None = None
    _cache: dict[tuple, tuple[int, Sequence[int]]] = field(default_factory=dict)
    # Events applied since the simulator last turned them into notifications (not persisted).
    applied: list[tuple[dict[str, Any], list]] = field(default_factory=list)

    # --- construction -------------------------------------------------------------------------

    def add_asset(self, asset: Asset) -> int:
        """Add (or return) an asset keyed by (adamId, pricingParam)."""
        key = (asset.adam_id, asset.pricing_param)
        if key not in self.asset_index:
            self.asset_index[key] = len(self.assets)
            self.assets.append(asset)
        return self.asset_index[key]

    def serial_row(self, serial: str) -> int:
        """Index of a serial number in the string table, added if new."""
        row = self.serial_index.get(serial)
        if row is None:
            row = self.serial_index[serial] = len(self.serials)
            self.serials.append(serial)
        return row

    def clone(self, *, uid: str, name: str, org: str) -> Location:
        """A fresh location seeded from this template; invitation codes are made unique."""
        loc = Location(
            uid=uid,
            name=name,
            org=org,
            counter=self.counter,
            settings=dict(self.settings),
            assets=[Asset(**a.__dict__) for a in self.assets],
            users=self.users.copy(),
            assignments=self.assignments.copy(),
            serials=list(self.serials),
        )
        loc.asset_index = dict(self.asset_index)
        loc.serial_index = dict(self.serial_index)
        invite = loc.users.invite
        for row, code in enumerate(invite):
            if code is not None:
                invite[row] = invite_code_for(uid, row)
        return loc

    # --- versions -----------------------------------------------------------------------------

    def bump(self) -> int:
        """Advance the change counter; rows changed now carry the new value."""
        self.counter += 1
        self._cache.clear()
        return self.counter

    def version_id(self) -> str:
        """Opaque versionId for the current state."""
        raw = f"v2:{self.uid}:{self.counter}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def parse_version_id(self, text: str) -> int:
        """Counter behind a versionId of this location; 9721 otherwise."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            tag, uid, number = raw.split(":")
            value = int(number)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise ApiError(9721) from exc
        if tag != "v2" or uid != self.uid or not 0 <= value <= self.counter:
            raise ApiError(9721)
        return value

    # --- assignments --------------------------------------------------------------------------

    @staticmethod
    def _key(asset: int, user: int, serial: int) -> int:
        return (asset << 32) | (user if user >= 0 else _DEVICE | serial)

    def assigned_keys(self) -> set[int]:
        """Set of (asset, holder) keys, built on first use and kept current."""
        if self._keys is None:
            a = self.assignments
            self._keys = {
                self._key(x, u, s) for x, u, s in zip(a.asset, a.user, a.serial, strict=True)
            }
        return self._keys

    def holds(self, asset: int, *, user: int = -1, serial: int = -1) -> bool:
        """Whether the user row or serial already holds this asset."""
        return self._key(asset, user, serial) in self.assigned_keys()

    def assign(self, asset: int, *, user: int = -1, serial: int = -1, version: int) -> None:
        """Record one assignment; license counts are the caller's job."""
        self.assignments.add(asset, user, serial, version)
        if self._keys is not None:
            self._keys.add(self._key(asset, user, serial))

    def release(self, predicate: Any) -> int:
        """Drop assignments for which predicate(asset, user, serial) is true; return how many."""
        a = self.assignments
        keep = [
            i
            for i, (x, u, s) in enumerate(zip(a.asset, a.user, a.serial, strict=True))
            if not predicate(x, u, s)
        ]
        dropped = len(a) - len(keep)
        if dropped:
            a.keep(keep)
            self._keys = None
            self._cache.clear()
        return dropped

    def assignment_json(self, row: int, *, user_state: bool = False) -> dict[str, Any]:
        """One assignment row as Apple shows it."""
        a = self.assignments
        asset = self.assets[a.asset[row]]
        out: dict[str, Any] = {"adamId": asset.adam_id, "pricingParam": asset.pricing_param}
        user = a.user[row]
        if user >= 0:
            out["clientUserId"] = self.users.cuid[user]
            if user_state:
                out["userStatus"] = STATUS_NAMES[self.users.status[user]]
                if self.users.id_hash[user] and self.users.status[user] != REGISTERED:
                    out["idHash"] = self.users.id_hash[user]
        else:
            out["serialNumber"] = self.serials[a.serial[row]]
        return out

    def assignment_rows(
        self,
        *,
        adam_id: str | None = None,
        pricing_param: str | None = None,
        client_user_id: str | None = None,
        serial_number: str | None = None,
        since: int | None = None,
        exclude_inactive: bool = False,
    ) -> Sequence[int]:
        """Row indices matching Get Assignments filters (cached per change counter)."""
        a = self.assignments
        start = 0 if since is None else bisect_right(a.version, since)
        key = ("a", adam_id, pricing_param, client_user_id, serial_number, exclude_inactive)
        if key == ("a", None, None, None, None, False):
            return range(start, len(a))
        cached = self._cache.get((*key, start))
        if cached and cached[0] == self.counter:
            return cached[1]
        assets: set[int] | None = None
        if adam_id is not None or pricing_param is not None:
            assets = {
                i
                for i, x in enumerate(self.assets)
                if (adam_id is None or x.adam_id == adam_id)
                and (pricing_param is None or x.pricing_param == pricing_param)
            }
        users: set[int] | None = None
        if client_user_id is not None:
            users = {i for i, c in enumerate(self.users.cuid) if c == client_user_id}
        serial = -2
        if serial_number is not None:
            serial = self.serial_index.get(serial_number, -3)
        status = self.users.status
        rows = array("i")
        for i in range(start, len(a)):
            if assets is not None and a.asset[i] not in assets:
                continue
            u = a.user[i]
            if users is not None and u not in users:
                continue
            if serial != -2 and (u >= 0 or a.serial[i] != serial):
                continue
            if exclude_inactive and u >= 0 and status[u] >= RETIRED:
                continue
            rows.append(i)
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[(*key, start)] = (self.counter, rows)
        return rows

    # --- users --------------------------------------------------------------------------------

    def user_rows(
        self,
        *,
        active_only: bool = False,
        retired_only: bool = False,
        client_user_id: str | None = None,
        managed_apple_id: str | None = None,
        since: int | None = None,
    ) -> Sequence[int]:
        """Row indices matching Get Users filters (cached per change counter)."""
        u = self.users
        key = ("u", active_only, retired_only, client_user_id, managed_apple_id, since)
        if key == ("u", False, False, None, None, None):
            return range(len(u))
        cached = self._cache.get(key)
        if cached and cached[0] == self.counter:
            return cached[1]
        rows = array("i")
        for i in range(len(u)):
            s = u.status[i]
            if active_only and s >= RETIRED:
                continue
            if retired_only and s < RETIRED:
                continue
            if client_user_id is not None and u.cuid[i] != client_user_id:
                continue
            if managed_apple_id is not None and u.managed[i] != managed_apple_id:
                continue
            if since is not None and u.version[i] <= since:
                continue
            rows.append(i)
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[key] = (self.counter, rows)
        return rows

    def invite_row(self, code: str) -> int | None:
        """Row of the user holding an invitation code (used or not)."""
        if self._invites is None:
            self._invites = {c: i for i, c in enumerate(self.users.invite) if c}
        return self._invites.get(code)

    def add_user(
        self,
        cuid: str,
        *,
        email: str | None,
        managed: str | None,
        version: int,
    ) -> int:
        """Create a user: Associated at once with a managed Apple ID, else Registered + invite."""
        row = len(self.users)
        if managed:
            return self.users.add(
                cuid,
                email=email,
                managed=managed,
                status=ASSOCIATED,
                id_hash=id_hash_for(managed, self.uid),
                invite=None,
                version=version,
            )
        code = invite_code_for(self.uid, row, str(version))
        self.users.add(
            cuid,
            email=email,
            managed=None,
            status=REGISTERED,
            id_hash=None,
            invite=code,
            version=version,
        )
        if self._invites is not None:
            self._invites[code] = row
        return row

    def set_status(self, row: int, status: int, version: int) -> None:
        """Change a user's status and stamp the row with the version."""
        u = self.users
        u.status[row] = status
        u.version[row] = version
        if status >= RETIRED:
            u.active.pop(u.cuid[row], None)

    # --- persistence --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Persisted form."""
        return {
            "uId": self.uid,
            "name": self.name,
            "org": self.org,
            "counter": self.counter,
            "mdmInfo": dict(self.mdm_info) if self.mdm_info else None,
            "settings": dict(self.settings),
            "assets": [a.to_list() for a in self.assets],
            "users": self.users.snapshot(),
            "assignments": self.assignments.snapshot(),
            "serials": list(self.serials),
            "events": [dict(e) for e in list(self.events.values())[-5000:]],
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Location:
        """Inverse of snapshot."""
        loc = cls(
            uid=data["uId"],
            name=data["name"],
            org=data["org"],
            counter=data["counter"],
            mdm_info=data.get("mdmInfo"),
            settings={**DEFAULT_SETTINGS, **data.get("settings", {})},
            users=Users.from_snapshot(data["users"]),
            assignments=Assignments.from_snapshot(data["assignments"]),
            serials=data["serials"],
            events={e["eventId"]: e for e in data.get("events", [])},
        )
        for row in data["assets"]:
            loc.add_asset(Asset.from_list(row))
        loc.serial_index = {s: i for i, s in enumerate(loc.serials)}
        loc.pending = [k for k, e in loc.events.items() if e["eventStatus"] == "PENDING"]
        return loc
