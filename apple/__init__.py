"""Shelfkeeper's client for Apple's Apps and Books service; a plain library, no Django."""

from __future__ import annotations

from apple.client import AppleClient, clear_service_config_cache
from apple.errors import (
    AppleError,
    AppleRequestError,
    AuthError,
    ClaimedElsewhereError,
    PermanentError,
    RateLimitedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
    TransientError,
    plain_message,
)
from apple.paging import Paged
from apple.types import (
    Asset,
    AssetKey,
    Assignment,
    BookMetadata,
    ClientConfig,
    EventFailure,
    EventRef,
    EventStatus,
    Limits,
    MdmInfo,
    NewUser,
    ServiceConfig,
    User,
)

__all__ = [
    "AppleClient",
    "AppleError",
    "AppleRequestError",
    "Asset",
    "AssetKey",
    "Assignment",
    "AuthError",
    "BookMetadata",
    "ClaimedElsewhereError",
    "ClientConfig",
    "EventFailure",
    "EventRef",
    "EventStatus",
    "Limits",
    "MdmInfo",
    "NewUser",
    "Paged",
    "PermanentError",
    "RateLimitedError",
    "ServiceConfig",
    "TokenExpiredError",
    "TokenInvalidError",
    "TokenRevokedError",
    "TransientError",
    "User",
    "clear_service_config_cache",
    "plain_message",
]
