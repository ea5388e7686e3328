"""Typed, immutable views of Apple's JSON objects (snake_case, parsed defensively)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "UNLIMITED_COUNT",
    "Asset",
    "AssetKey",
    "Assignment",
    "BookMetadata",
    "ClientConfig",
    "EventFailure",
    "EventRef",
    "EventStatus",
    "Limits",
    "MdmInfo",
    "NewUser",
    "ServiceConfig",
    "User",
    "parse_datetime",
]

# Free books and apps default to unlimited licenses; Apple reports them as int32 max.
UNLIMITED_COUNT = 2_147_483_647


def parse_datetime(value: Any) -> datetime | None:
    """Parse Apple's ISO-8601 stamps (`+0000`, `+00:00` or `Z` offsets); None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    """Apple's counts as int, tolerating strings and absence."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str_tuple(value: Any) -> tuple[str, ...]:
    """A JSON array of scalars as a tuple of strings."""
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value if item is not None)


class AssetKey(NamedTuple):
    """An asset's identity: the same adamId can be owned as STDQ and as PLUS."""

    adam_id: str
    pricing_param: str


@dataclass(frozen=True)
class MdmInfo:
    """Who manages a location: echoed by Apple on every response once set."""

    id: str
    name: str
    metadata: str = ""

    @classmethod
    def from_json(cls, data: Any) -> MdmInfo | None:
        """Parse an `mdmInfo` object; None when absent or without an id."""
        if not isinstance(data, Mapping) or not data.get("id"):
            return None
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            metadata=str(data.get("metadata") or ""),
        )

    def to_json(self) -> dict[str, str]:
        """The body shape Apple expects in a client config write."""
        return {"id": self.id, "name": self.name, "metadata": self.metadata}


@dataclass(frozen=True)
class Limits:
    """Per-request size limits from service config (Apple's example values as defaults)."""

    max_assets: int = 25
    max_users: int = 100
    max_client_user_ids: int = 1000
    max_serial_numbers: int = 1000
    max_revoke_client_user_ids: int = 100
    max_revoke_serial_numbers: int = 100
    max_notification_length: int = 512
    max_mdm_id_length: int = 100
    max_mdm_name_length: int = 100
    max_mdm_metadata_length: int = 255

    @classmethod
    def from_json(cls, data: Any) -> Limits:
        """Parse `limits`, keeping the default for any missing or non-positive value."""
        data = data if isinstance(data, Mapping) else {}
        defaults = cls()
        values = {}
        for name, key in _LIMIT_KEYS.items():
            value = _int_or_none(data.get(key))
            values[name] = value if value and value > 0 else getattr(defaults, name)
        return cls(**values)


_LIMIT_KEYS = {
    "max_assets": "maxAssets",
    "max_users": "maxUsers",
    "max_client_user_ids": "maxClientUserIds",
    "max_serial_numbers": "maxSerialNumbers",
    "max_revoke_client_user_ids": "maxRevokeClientUserIds",
    "max_revoke_serial_numbers": "maxRevokeSerialNumbers",
    "max_notification_length": "maxNotificationLength",
    "max_mdm_id_length": "maxMdmIdLength",
    "max_mdm_name_length": "maxMdmNameLength",
    "max_mdm_metadata_length": "maxMdmMetadataLength",
}


@dataclass(frozen=True)
class ServiceConfig:
    """Service discovery data: limits, URLs, notification types, error codes."""

    limits: Limits
    urls: Mapping[str, str] = field(default_factory=dict)
    notification_types: tuple[str, ...] = ()
    error_codes: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceConfig:
        """Parse a `GET /service/config` response."""
        urls = data.get("urls")
        codes = {}
        for entry in data.get("errorCodes") or ():
            number = _int_or_none(entry.get("errorNumber")) if isinstance(entry, Mapping) else None
            if number is not None:
                codes[number] = str(entry.get("errorMessage") or "")
        return cls(
            limits=Limits.from_json(data.get("limits")),
            urls={str(k): str(v) for k, v in urls.items()} if isinstance(urls, Mapping) else {},
            notification_types=_str_tuple(data.get("notificationTypes")),
            error_codes=codes,
        )

    def invitation_url(self, invite_code: str) -> str | None:
        """The link a user opens to join the programme, or None if Apple gave no template."""
        template = self.urls.get("invitationEmail")
        if not template:
            return None
        return template.replace("%25inviteCode%25", invite_code).replace(
            "%inviteCode%", invite_code
        )


@dataclass(frozen=True)
class ClientConfig:
    """A location's client config (`GET`/`POST /client/config`)."""

    location_name: str
    country_code: str
    default_platform: str
    website_url: str
    mdm_info: MdmInfo | None
    notification_url: str
    subscribed_notification_types: tuple[str, ...]
    token_expiration_date: datetime | None
    uid: str
    # The shared secret Apple sends back on notifications: keep it out of logs.
    notification_auth_token: str = field(default="", repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClientConfig:
        """Parse a client config response."""
        return cls(
            location_name=str(data.get("locationName") or ""),
            country_code=str(data.get("countryISO2ACode") or ""),
            default_platform=str(data.get("defaultPlatform") or ""),
            website_url=str(data.get("websiteURL") or ""),
            mdm_info=MdmInfo.from_json(data.get("mdmInfo")),
            notification_url=str(data.get("notificationUrl") or ""),
            subscribed_notification_types=_str_tuple(data.get("subscribedNotificationTypes")),
            token_expiration_date=parse_datetime(data.get("tokenExpirationDate")),
            uid=str(data.get("uId") or ""),
            notification_auth_token=str(data.get("notificationAuthToken") or ""),
        )


@dataclass(frozen=True)
class Asset:
    """One owned asset (book or app) with its license counts."""

    adam_id: str
    pricing_param: str
    product_type: str
    revocable: bool
    device_assignable: bool
    supported_platforms: tuple[str, ...]
    assigned_count: int | None
    available_count: int | None
    retired_count: int | None
    total_count: int | None
    unlimited: bool

    @property
    def key(self) -> AssetKey:
        """The (adam_id, pricing_param) identity."""
        return AssetKey(self.adam_id, self.pricing_param)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, unlimited: bool = False) -> Asset:
        """Parse a `ResponseAsset` (or an `UnlimitedResponseAsset` when `unlimited`)."""
        total = _int_or_none(data.get("totalCount"))
        return cls(
            adam_id=str(data.get("adamId") or ""),
            pricing_param=str(data.get("pricingParam") or "STDQ"),
            product_type=str(data.get("productType") or ""),
            revocable=bool(data.get("revocable", False)),
            device_assignable=bool(data.get("deviceAssignable", False)),
            supported_platforms=_str_tuple(data.get("supportedPlatforms")),
            assigned_count=_int_or_none(data.get("assignedCount")),
            available_count=_int_or_none(data.get("availableCount")),
            retired_count=_int_or_none(data.get("retiredCount")),
            total_count=total,
            unlimited=unlimited or total == UNLIMITED_COUNT,
        )


class Assignment(NamedTuple):
    """One license held by a user (client_user_id) or a device (serial_number).

    A NamedTuple rather than a frozen dataclass: a full sync parses a million of these, and a
    tuple is built in a third of the time (a frozen dataclass sets each field through
    object.__setattr__).
    """

    adam_id: str
    pricing_param: str
    client_user_id: str | None
    serial_number: str | None
    user_status: str | None = None
    id_hash: str | None = None

    @property
    def key(self) -> AssetKey:
        """The asset this assignment is for."""
        return AssetKey(self.adam_id, self.pricing_param)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assignment:
        """Parse one entry of `assignments[]`."""
        get = data.get
        return cls(
            str(get("adamId") or ""),
            str(get("pricingParam") or "STDQ"),
            get("clientUserId"),
            get("serialNumber"),
            get("userStatus"),
            get("idHash"),
        )


class User(NamedTuple):
    """A user registered with Apple (`ResponseUser`); a NamedTuple for the same reason."""

    client_user_id: str
    status: str
    email: str | None = None
    id_hash: str | None = None
    invite_code: str | None = None
    managed_apple_id: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> User:
        """Parse one entry of `users[]`."""
        get = data.get
        return cls(
            str(get("clientUserId") or ""),
            str(get("status") or ""),
            get("email"),
            get("idHash"),
            get("inviteCode"),
            get("managedAppleId"),
        )


@dataclass(frozen=True)
class NewUser:
    """A user to create or update (`RequestUser`)."""

    client_user_id: str
    email: str | None = None
    managed_apple_id: str | None = None

    def to_json(self) -> dict[str, str]:
        """The request body entry; absent fields are left out, as Apple expects."""
        body = {"clientUserId": self.client_user_id}
        if self.email:
            body["email"] = self.email
        if self.managed_apple_id:
            body["managedAppleId"] = self.managed_apple_id
        return body


@dataclass(frozen=True)
class EventRef:
    """An asynchronous write Apple accepted, and what that one request covered."""

    event_id: str
    token_expiration_date: datetime | None = None
    assets: tuple[AssetKey, ...] = field(default=(), repr=False)
    client_user_ids: tuple[str, ...] = field(default=(), repr=False)
    serial_numbers: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class EventFailure:
    """One failure inside an event (`failures[]` entry): which items, and why."""

    error_number: int | None
    message: str
    assets: tuple[AssetKey, ...] = ()
    client_user_ids: tuple[str, ...] = ()
    serial_numbers: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EventFailure:
        """Parse an `ErrorResponse` with its optional `errorInfo`."""
        info = data.get("errorInfo") if isinstance(data.get("errorInfo"), Mapping) else {}
        assets = tuple(
            AssetKey(str(a.get("adamId") or ""), str(a.get("pricingParam") or "STDQ"))
            for a in info.get("assets") or ()
            if isinstance(a, Mapping)
        )
        return cls(
            error_number=_int_or_none(data.get("errorNumber")),
            message=str(data.get("errorMessage") or ""),
            assets=assets,
            client_user_ids=_str_tuple(info.get("clientUserIds")),
            serial_numbers=_str_tuple(info.get("serialNumbers")),
        )


@dataclass(frozen=True)
class EventStatus:
    """Progress of an asynchronous write (`GET /status`)."""

    event_id: str
    status: str
    event_type: str
    num_requested: int
    num_completed: int
    failures: tuple[EventFailure, ...] = ()

    @property
    def is_done(self) -> bool:
        """True once Apple stopped working on the event (COMPLETE or FAILED)."""
        return self.status in ("COMPLETE", "FAILED")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, event_id: str) -> EventStatus:
        """Parse a `StatusResponse`."""
        return cls(
            event_id=event_id,
            status=str(data.get("eventStatus") or ""),
            event_type=str(data.get("eventType") or ""),
            num_requested=_int_or_none(data.get("numRequested")) or 0,
            num_completed=_int_or_none(data.get("numCompleted")) or 0,
            failures=tuple(
                EventFailure.from_json(f)
                for f in data.get("failures") or ()
                if isinstance(f, Mapping)
            ),
        )


@dataclass(frozen=True)
class BookMetadata:
    """Store metadata for one adamId (title, author, cover...)."""

    adam_id: str
    title: str
    author: str
    genres: tuple[str, ...] = ()
    description: str = ""
    artwork_url: str | None = None
    kind: str = ""
    release_date: str | None = None
    store_url: str | None = None
