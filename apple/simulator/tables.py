"""The compact tables of a location: assets, users as columns, assignments as int arrays.

Assignments are four parallel `array`s of ints (asset index, user row, serial index, version)
so a location with 1,000,000 assignments costs a few tens of MB and a page is a slice. Users are
parallel lists with a `bytearray` of statuses. Rows only ever get appended, so the version
column is sorted and `sinceVersionId` is a binary search.
"""

from __future__ import annotations

import base64
import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

INT32_MAX = 2147483647
REGISTERED, ASSOCIATED, RETIRED, DELETED = 0, 1, 2, 3
STATUS_NAMES = ("Registered", "Associated", "Retired", "Deleted")


@dataclass
class Asset:
    """One (adamId, pricingParam) the location owns."""

    adam_id: str
    pricing_param: str
    product_type: str
    revocable: bool
    device_assignable: bool
    total: int
    assigned: int = 0
    retired: int = 0
    platforms: tuple[str, ...] = ("iOS", "macOS")
    transferred: bool = False  # every license moved to another location: gone from Get Assets

    @property
    def unlimited(self) -> bool:
        """Free titles report int32 max licenses."""
        return self.total >= INT32_MAX

    @property
    def available(self) -> int:
        """Licenses that can still be assigned."""
        return max(0, self.total - self.assigned - self.retired)

    def as_json(self, *, unlimited_shape: bool = False) -> dict[str, Any]:
        """ResponseAsset (or UnlimitedResponseAsset without the counts)."""
        out: dict[str, Any] = {
            "adamId": self.adam_id,
            "pricingParam": self.pricing_param,
            "productType": self.product_type,
            "revocable": self.revocable,
            "deviceAssignable": self.device_assignable,
            "supportedPlatforms": list(self.platforms),
            "assignedCount": self.assigned,
        }
        if not unlimited_shape:
            out["availableCount"] = self.available
            out["retiredCount"] = self.retired
            out["totalCount"] = self.total
        return out

    def to_list(self) -> list[Any]:
        """Compact persisted form."""
        return [
            self.adam_id,
            self.pricing_param,
            self.product_type,
            self.revocable,
            self.device_assignable,
            self.total,
            self.assigned,
            self.retired,
            list(self.platforms),
            self.transferred,
        ]

    @classmethod
    def from_list(cls, row: list[Any]) -> Asset:
        """Inverse of to_list."""
        transferred = bool(row[9]) if len(row) > 9 else False
        return cls(*row[:8], platforms=tuple(row[8]), transferred=transferred)


def id_hash_for(cuid: str, salt: str = "") -> str:
    """A stand-in for Apple's hash of the user's store account."""
    return hashlib.sha256(f"{salt}|{cuid}".encode()).hexdigest()[:40]


def invite_code_for(uid: str, row: int, salt: str = "") -> str:
    """A unique-looking 32-hex invitation code."""
    return hashlib.sha256(f"invite|{uid}|{row}|{salt}".encode()).hexdigest()[:32]


@dataclass
class Users:
    """Users as parallel columns; `active` maps clientUserId to its Registered/Associated row."""

    cuid: list[str] = field(default_factory=list)
    email: list[str | None] = field(default_factory=list)
    managed: list[str | None] = field(default_factory=list)
    status: bytearray = field(default_factory=bytearray)
    id_hash: list[str | None] = field(default_factory=list)
    invite: list[str | None] = field(default_factory=list)
    version: array = field(default_factory=lambda: array("q"))
    active: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cuid)

    def add(
        self,
        cuid: str,
        *,
        email: str | None,
        managed: str | None,
        status: int,
        id_hash: str | None,
        invite: str | None,
        version: int,
    ) -> int:
        """Append a row and return its index."""
        row = len(self.cuid)
        self.cuid.append(cuid)
        self.email.append(email)
        self.managed.append(managed)
        self.status.append(status)
        self.id_hash.append(id_hash)
        self.invite.append(invite)
        self.version.append(version)
        if status in (REGISTERED, ASSOCIATED):
            self.active[cuid] = row
        return row

    def as_json(self, row: int) -> dict[str, Any]:
        """ResponseUser."""
        out: dict[str, Any] = {
            "clientUserId": self.cuid[row],
            "status": STATUS_NAMES[self.status[row]],
        }
        if self.email[row]:
            out["email"] = self.email[row]
        if self.id_hash[row] and self.status[row] != REGISTERED:
            out["idHash"] = self.id_hash[row]
        if self.invite[row] and self.status[row] == REGISTERED:
            out["inviteCode"] = self.invite[row]
        return out

    def copy(self) -> Users:
        """A copy sharing the (immutable) strings."""
        return Users(
            cuid=list(self.cuid),
            email=list(self.email),
            managed=list(self.managed),
            status=bytearray(self.status),
            id_hash=list(self.id_hash),
            invite=list(self.invite),
            version=array("q", self.version),
            active=dict(self.active),
        )

    def snapshot(self) -> dict[str, Any]:
        """Persisted form: flat arrays."""
        return {
            "cuid": list(self.cuid),
            "email": list(self.email),
            "managed": list(self.managed),
            "status": base64.b64encode(bytes(self.status)).decode(),
            "idHash": list(self.id_hash),
            "invite": list(self.invite),
            "version": self.version.tolist(),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Users:
        """Inverse of snapshot."""
        users = cls(
            cuid=data["cuid"],
            email=data["email"],
            managed=data["managed"],
            status=bytearray(base64.b64decode(data["status"])),
            id_hash=data["idHash"],
            invite=data["invite"],
            version=array("q", data["version"]),
        )
        users.active = {
            c: i
            for i, (c, s) in enumerate(zip(users.cuid, users.status, strict=True))
            if s < RETIRED
        }
        return users


@dataclass
class Assignments:
    """Assignments as parallel int arrays; user -1 means a device (serial) row."""

    asset: array = field(default_factory=lambda: array("i"))
    user: array = field(default_factory=lambda: array("i"))
    serial: array = field(default_factory=lambda: array("i"))
    version: array = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.asset)

    def add(self, asset: int, user: int, serial: int, version: int) -> None:
        """Append one row."""
        self.asset.append(asset)
        self.user.append(user)
        self.serial.append(serial)
        self.version.append(version)

    def copy(self) -> Assignments:
        """Independent arrays."""
        return Assignments(
            array("i", self.asset),
            array("i", self.user),
            array("i", self.serial),
            array("q", self.version),
        )

    def keep(self, rows: Iterable[int]) -> None:
        """Keep only these rows (in order); used when revocable licenses are released."""
        rows = list(rows)
        self.asset = array("i", (self.asset[i] for i in rows))
        self.user = array("i", (self.user[i] for i in rows))
        self.serial = array("i", (self.serial[i] for i in rows))
        self.version = array("q", (self.version[i] for i in rows))

    def snapshot(self) -> dict[str, Any]:
        """Persisted form: flat arrays."""
        return {
            "asset": self.asset.tolist(),
            "user": self.user.tolist(),
            "serial": self.serial.tolist(),
            "version": self.version.tolist(),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Assignments:
        """Inverse of snapshot."""
        return cls(
            array("i", data["asset"]),
            array("i", data["user"]),
            array("i", data["serial"]),
            array("q", data["version"]),
        )
