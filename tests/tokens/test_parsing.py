"""Every way a token file can be wrong gets a sentence an admin can act on."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tokens.parsing import MAX_FILE_BYTES, TokenFileError, parse_expiry, parse_token_file

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def token_file(**payload) -> bytes:
    body = {"token": "aW5uZXItdG9rZW4=", "expDate": "2027-11-08T22:33:22+0000", "orgName": "ORG1"}
    body.update(payload)
    body = {key: value for key, value in body.items() if value is not None}
    return base64.b64encode(json.dumps(body).encode())


def test_a_good_file_is_read():
    parsed = parse_token_file(token_file(), now=NOW)
    assert parsed.org_name == "ORG1"
    assert parsed.expires_at == datetime(2027, 11, 8, 22, 33, 22, tzinfo=UTC)
    assert parsed.content == token_file().decode()
    assert len(parsed.fingerprint) == 64
    assert parsed.content not in repr(parsed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-11-08T22:33:22+0000", datetime(2027, 11, 8, 22, 33, 22, tzinfo=UTC)),
        (
            "2027-08-15T18:13:52-0700",
            datetime(2027, 8, 15, 18, 13, 52, tzinfo=timezone(timedelta(hours=-7))),
        ),
        (
            "2027-12-31T13:57:19+02:00",
            datetime(2027, 12, 31, 13, 57, 19, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2027-12-31T13:57:19Z", datetime(2027, 12, 31, 13, 57, 19, tzinfo=UTC)),
    ],
)
def test_expiry_accepts_apple_offsets(text, expected):
    assert parse_expiry(text) == expected


def test_line_wrapped_base64_is_accepted():
    content = token_file().decode()
    wrapped = "\n".join(content[i : i + 60] for i in range(0, len(content), 60)) + "\n"
    assert parse_token_file(wrapped.encode(), now=NOW).content == content


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"x" * (MAX_FILE_BYTES + 1), "under 64 KB"),
        (b"", "empty"),
        ("é".encode(), "not Base64"),
        (b"this is not base64!!", "not Base64"),
        (base64.b64encode(b"\x89PNG binary"), "not JSON"),
        (base64.b64encode(b"[1, 2]"), "not a JSON object"),
        (token_file(token=None), "missing token"),
        (token_file(expDate=None, orgName=None), "missing expDate, orgName"),
        (token_file(expDate="next tuesday"), "cannot be read as a date"),
        (token_file(expDate="2027-11-08T22:33:22"), "no time zone"),
        (token_file(expDate="2026-01-01T00:00:00+0000"), "expired on 2026-01-01"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data, words):
    with pytest.raises(TokenFileError, match=words):
        parse_token_file(data, now=NOW)


def test_error_messages_never_contain_the_token():
    secret = "c2VjcmV0LXRva2VuLXZhbHVl"
    with pytest.raises(TokenFileError) as refused:
        parse_token_file(token_file(token=secret, expDate="soon"), now=NOW)
    assert secret not in str(refused.value)
