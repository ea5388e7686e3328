"""Tokens are encrypted at rest; keys rotate; a bad key is a start-up error."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from tokens.checks import token_key_check
from tokens.crypto import TokenKeyError, decrypt, encrypt, encrypter, reencrypt

SECRET = "ZXhhbXBsZS10b2tlbi1jb250ZW50"


def test_round_trip():
    ciphertext = encrypt(SECRET)
    assert SECRET not in ciphertext
    assert decrypt(ciphertext) == SECRET


def test_rotation_reads_old_ciphertext_and_rewrites_it_with_the_new_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(VPP_TOKEN_KEY=old):
        ciphertext = encrypt(SECRET)
    with override_settings(VPP_TOKEN_KEY=f"{new},{old}"):
        assert decrypt(ciphertext) == SECRET
        rotated = reencrypt(ciphertext)
    with override_settings(VPP_TOKEN_KEY=new):
        assert decrypt(rotated) == SECRET
        with pytest.raises(TokenKeyError, match="removed too soon"):
            decrypt(ciphertext)


def test_bulk_encryption_uses_the_newest_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(VPP_TOKEN_KEY=f"{new},{old}"):
        ciphertext = encrypter()(SECRET)
    assert SECRET not in ciphertext
    with override_settings(VPP_TOKEN_KEY=new):
        assert decrypt(ciphertext) == SECRET


@pytest.mark.parametrize(
    ("key", "words"), [("", "not set"), ("not-a-key", "key #1 is not a Fernet key")]
)
def test_bad_key_is_a_system_check_error(key, words):
    with override_settings(VPP_TOKEN_KEY=key):
        errors = token_key_check(None)
    assert [error.id for error in errors] == ["tokens.E001"]
    assert words in errors[0].msg
    assert "Fernet.generate_key" in errors[0].hint


def test_second_bad_key_is_named():
    with override_settings(VPP_TOKEN_KEY=f"{Fernet.generate_key().decode()},oops"):
        assert "key #2" in token_key_check(None)[0].msg


def test_check_command_fails_on_a_missing_key():
    from django.core.management.base import SystemCheckError

    with (
        override_settings(VPP_TOKEN_KEY=""),
        pytest.raises(SystemCheckError, match=r"tokens\.E001"),
    ):
        call_command("check")
