"""Reading the `.vpptoken` file Apple hands out: Base64 of JSON {token, expDate, orgName}.

Every failure is a TokenFileError whose message an admin can act on; the file's content never
appears in one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_FILE_BYTES = 64 * 1024
REQUIRED_KEYS = ("token", "expDate", "orgName")
# Apple writes +0000 (v2 docs), -0700 (legacy docs) and +02:00 (seen in the wild); Z is ISO's UTC.
_OFFSET_WITHOUT_COLON = re.compile(r"([+-])(\d{2})(\d{2})$")
# A real token lives a year; anything this far out is a damaged or forged file.
LATEST_EXPIRY_YEAR = 2200
ORG_NAME_MAX = 200


class TokenFileError(ValueError):
    """The uploaded file is not a usable content token."""


@dataclass(frozen=True)
class ParsedToken:
    org_name: str
    expires_at: datetime
    # The whole Base64 file content is what Apple wants as the bearer value.
    content: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """A stable hash of the token, for spotting the same file uploaded twice."""
        return token_fingerprint(self.content)


def token_fingerprint(content: str) -> str:
    """SHA-256 of the token content, hex."""
    return hashlib.sha256(content.encode("ascii")).hexdigest()


def parse_expiry(value: object) -> datetime:
    """Apple's expDate with +hhmm, +hh:mm or Z offsets, as an aware datetime."""
    if not isinstance(value, str) or not value.strip():
        raise TokenFileError("The token's expiry date (expDate) is empty.")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _OFFSET_WITHOUT_COLON.sub(r"\1\2:\3", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TokenFileError(
            f"The token's expiry date '{value[:40]}' cannot be read as a date."
        ) from None
    if parsed.tzinfo is None:
        raise TokenFileError(f"The token's expiry date '{value[:40]}' has no time zone.")
    try:
        # Normalised here: a date near year 9999 with an offset overflows when stored.
        in_utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        in_utc = None
    if in_utc is None or in_utc.year > LATEST_EXPIRY_YEAR:
        raise TokenFileError(
            f"The token's expiry date '{value[:40]}' is not a date a content token can have."
        )
    return parsed


def clean_line(value: object, *, max_length: int = ORG_NAME_MAX) -> str:
    """Text as one printable line: names end up in email headers and page titles."""
    text = "".join(" " if unicodedata.category(char)[0] in "CZ" else char for char in str(value))
    return " ".join(text.split())[:max_length]


def parse_token_file(data: bytes, *, now: datetime) -> ParsedToken:
    """Validate an uploaded token file and return what it holds."""
    if len(data) > MAX_FILE_BYTES:
        raise TokenFileError(
            f"The file is {len(data) // 1024} KB; a content token is under 64 KB. "
            "Check that you chose the .vpptoken file downloaded from Apple."
        )
    try:
        content = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenFileError(
            "The file is not a content token: it is not Base64 text. "
            "Download the .vpptoken file again from Apple School Manager or Apple Business Manager."
        ) from None
    content = "".join(content.split())  # some editors wrap long lines
    if not content:
        raise TokenFileError("The file is empty.")
    try:
        decoded = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise TokenFileError(
            "The file is not a content token: it is not Base64 text. "
            "Download the .vpptoken file again from Apple School Manager or Apple Business Manager."
        ) from None
    try:
        payload = json.loads(decoded)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested brackets ("[" x 20000) exhaust the parser's stack.
        raise TokenFileError(
            "The file is Base64 but what it holds is not a content token (not JSON)."
        ) from None
    if not isinstance(payload, dict):
        raise TokenFileError("The file's content is not a content token (not a JSON object).")
    missing = [key for key in REQUIRED_KEYS if not payload.get(key)]
    if missing:
        raise TokenFileError(
            f"The token is missing {', '.join(missing)}. It may be damaged or not a content token."
        )
    expires_at = parse_expiry(payload["expDate"])
    if expires_at <= now:
        raise TokenFileError(
            f"This token expired on {expires_at:%Y-%m-%d}. Download a new one from Apple School "
            "Manager or Apple Business Manager (Settings → Apps and Books)."
        )
    org_name = clean_line(payload["orgName"])
    if not org_name:
        raise TokenFileError("The token's organisation name (orgName) is empty.")
    return ParsedToken(org_name=org_name, expires_at=expires_at, content=content)
