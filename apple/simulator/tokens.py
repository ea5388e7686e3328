"""Issue and verify simulated `.vpptoken` files.

A file is what Apple ships: Base64 of the JSON `{"token", "expDate", "orgName"}`. The inner
`token` is self-validating so that a simulator already running with the same state file accepts a
token issued later from the command line: it is `<base64url(claims JSON)>.<HMAC-SHA256>` where
the claims are `{"org", "loc", "uid", "exp", "nonce"}` and the key is the secret kept in the
state file. A location's `uId` is derived from (secret, org, location), so a renewed token for the
same location reaches the same library.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from apple.simulator.errors import ApiError

# Used when no state file is given, so `--issue-token` without `--state` matches a simulator
# started without `--state`. A state file gets its own random secret.
DEFAULT_SECRET = "shelfkeeper-simulator-development-secret"  # noqa: S105 - dev only

EXP_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # Apple's own: 2030-11-08T22:33:22+0000


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    org: str
    location: str
    uid: str
    expires_at: float
    nonce: str


def format_date(epoch: float) -> str:
    """Apple's timestamp format, in UTC: 2027-11-23T10:00:00+0000."""
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).strftime(EXP_FORMAT)


def location_uid(secret: str, org: str, location: str) -> str:
    """A stable 16-digit library id for one (org, location)."""
    digest = hmac.new(secret.encode(), f"{org}\x00{location}".encode(), hashlib.sha256).digest()
    return str(10**15 + int.from_bytes(digest[:8], "big") % (9 * 10**15))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def issue(secret: str, *, org: str, location: str, expires_at: float) -> str:
    """Return the content of a `.vpptoken` file (one Base64 string)."""
    claims = {
        "org": org,
        "loc": location,
        "uid": location_uid(secret, org, location),
        "exp": int(expires_at),
        "nonce": secrets.token_hex(8),
    }
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    inner = f"{payload}.{_sign(secret, payload)}"
    outer = {"token": inner, "expDate": format_date(expires_at), "orgName": org}
    return base64.b64encode(json.dumps(outer).encode()).decode()


def decode_file(content: str) -> dict:
    """Decode a `.vpptoken` file content to its JSON object (no signature check)."""
    try:
        raw = base64.b64decode(content.strip(), validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(9622) from exc
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        raise ApiError(9622)
    return data


def verify(secret: str, content: str) -> TokenClaims:
    """Check a bearer value; raise ApiError 9622 if it was not issued with this secret."""
    inner = decode_file(content)["token"]
    payload, _, signature = inner.partition(".")
    if not signature or not hmac.compare_digest(signature, _sign(secret, payload)):
        raise ApiError(9622)
    try:
        claims = json.loads(_unb64url(payload))
        return TokenClaims(
            org=str(claims["org"]),
            location=str(claims["loc"]),
            uid=str(claims["uid"]),
            expires_at=float(claims["exp"]),
            nonce=str(claims["nonce"]),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ApiError(9622) from exc
