"""Invitation codes are secrets: the database holds them only encrypted (VPP_TOKEN_KEY)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from apple.types import User
from assignments.apple_records import apple_users_upsert
from assignments.models import AppleUser
from tests.factories import AppleUserFactory, VppTokenFactory
from tokens.crypto import encrypt
from tokens.services import tokens_reencrypt

pytestmark = pytest.mark.django_db
CODE = "INVITE-CODE-3f9a1c77e2"


def _stored(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT invite_code FROM {AppleUser._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_a_code_saved_through_the_orm_is_stored_encrypted_and_read_back_in_clear():
    user = AppleUserFactory(status=AppleUser.Status.REGISTERED, invite_code=CODE)
    assert CODE not in _stored(user.pk)
    assert AppleUser.objects.get(pk=user.pk).invite_code == CODE
    assert AppleUser.objects.values_list("invite_code", flat=True).get(pk=user.pk) == CODE


def test_a_code_written_by_the_sync_is_stored_encrypted():
    token = VppTokenFactory()
    user = User.from_json(
        {"clientUserId": "sk-1-abc", "status": "Registered", "inviteCode": CODE, "email": "a@x.org"}
    )
    apple_users_upsert(token=token, users=[user], prefix="sk-1-", seen_at=timezone.now())
    stored = AppleUser.objects.get(token=token, client_user_id="sk-1-abc")
    assert stored.invite_code == CODE
    assert CODE not in _stored(stored.pk)


def test_blank_stays_blank_so_sql_can_tell_who_has_a_code():
    user = AppleUserFactory(invite_code="")
    assert _stored(user.pk) == ""


def test_a_code_no_key_opens_reads_as_blank_instead_of_failing(settings):
    user = AppleUserFactory(status=AppleUser.Status.REGISTERED, invite_code=CODE)
    settings.VPP_TOKEN_KEY = "xV2ZxOzsF9DgkPo7nF0a5a9bJ8X6yqS1t4X0hZ8t2wE="  # another key
    assert AppleUser.objects.get(pk=user.pk).invite_code == ""


def test_key_rotation_re_encrypts_codes_so_the_old_key_can_go(settings):
    token = VppTokenFactory(secret_ciphertext=encrypt("the-token"))
    user = AppleUserFactory(token=token, status=AppleUser.Status.REGISTERED, invite_code=CODE)
    old_key = settings.VPP_TOKEN_KEY
    new_key = "xV2ZxOzsF9DgkPo7nF0a5a9bJ8X6yqS1t4X0hZ8t2wE="
    settings.VPP_TOKEN_KEY = f"{new_key},{old_key}"
    tokens_reencrypt()
    settings.VPP_TOKEN_KEY = new_key
    assert AppleUser.objects.get(pk=user.pk).invite_code == CODE
