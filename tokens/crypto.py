"""Tokens at rest: Fernet encryption with the keys in VPP_TOKEN_KEY (newest first).

Several keys make rotation possible: put a new key in front, run `manage.py vpp_rotate_token_key`,
then drop the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class TokenKeyError(Exception):
    """VPP_TOKEN_KEY is missing or not a list of Fernet keys."""


def _keys(raw: str) -> list[Fernet]:
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise TokenKeyError("VPP_TOKEN_KEY is not set")
    keys = []
    for position, key in enumerate(names, start=1):
        try:
            keys.append(Fernet(key))
        except (ValueError, TypeError):
            raise TokenKeyError(
                f"VPP_TOKEN_KEY key #{position} is not a Fernet key (32 url-safe Base64 bytes)"
            ) from None
    return keys


def token_cipher() -> MultiFernet:
    """The cipher for the configured keys; raises TokenKeyError when they are unusable."""
    return MultiFernet(_keys(settings.VPP_TOKEN_KEY))


def encrypt(secret: str) -> str:
    """Encrypt with the newest key."""
    return token_cipher().encrypt(secret.encode("utf-8")).decode("ascii")


def encrypter():
    """`encrypt` with the cipher built once, for many values in a row (bulk writes).

    The newest key's own Fernet, which is what MultiFernet.encrypt calls: a fifth less time
    per value for a sync's tens of thousands of invitation codes.
    """
    cipher = _keys(settings.VPP_TOKEN_KEY)[0]
    return lambda secret: cipher.encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    """Decrypt with whichever configured key fits."""
    try:
        return token_cipher().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise TokenKeyError(
            "A stored secret cannot be decrypted with VPP_TOKEN_KEY: was a key removed too soon?"
        ) from None


def reencrypt(ciphertext: str) -> str:
    """Re-encrypt under the newest key (key rotation)."""
    try:
        return token_cipher().rotate(ciphertext.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise TokenKeyError(
            "A stored token cannot be decrypted with any VPP_TOKEN_KEY key"
        ) from None


def key_problem() -> str | None:
    """Why the configured keys are unusable, or None."""
    try:
        token_cipher()
    except TokenKeyError as error:
        return str(error)
    return None
