"""Importing, renewing and claiming tokens against the simulator."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tokens.clients import our_mdm_info
from tokens.crypto import decrypt
from tokens.models import VppToken
from tokens.services import token_import, token_renew, token_take_control

pytestmark = pytest.mark.django_db

State = VppToken.State


def _import(data: bytes, **kwargs) -> VppToken:
    return token_import(
        file_bytes=data,
        apple_id=kwargs.pop("apple_id", "books@springfield.example"),
        account_type=kwargs.pop("account_type", "education"),
        **kwargs,
    )


def test_import_reads_client_config_and_claims_the_location(apple, token_file):
    data = token_file()
    token = _import(data, name="")
    assert token.state == State.VALID
    assert token.name == "Main Library"
    assert token.location_name == "Main Library"
    assert token.org_name == "Springfield Schools"
    assert token.location_uid == apple.location(data.decode()).uid
    assert token.country_code and token.store_platform
    assert token.claimed_at is not None
    assert apple.location(data.decode()).mdm_info["id"] == our_mdm_info().id
    assert decrypt(token.secret_ciphertext) == data.decode()
    assert data.decode() not in token.secret_ciphertext


def test_the_same_file_twice_is_refused(apple, token_file):
    data = token_file()
    first = _import(data)
    with pytest.raises(ValidationError, match=f"already been uploaded as “{first.name}”"):
        _import(data)
    assert VppToken.objects.count() == 1


def test_another_file_for_a_managed_location_points_to_renew(apple, token_file):
    _import(token_file())
    with pytest.raises(ValidationError, match="use Renew on that token"):
        _import(token_file())  # a fresh file for the same location
    assert VppToken.objects.count() == 1


@pytest.mark.parametrize(
    ("break_token", "words"),
    [
        ("revoke", "revoked"),
        ("expire_at_apple", "expired"),
    ],
)
def test_apple_refusing_the_token_is_said_in_plain_words(apple, token_file, break_token, words):
    data = token_file()
    if break_token == "revoke":
        apple.revoke(data.decode())
    else:
        apple.set_faults("expired:next=5")
    with pytest.raises(ValidationError, match=words):
        _import(data)
    assert not VppToken.objects.exists()


def test_a_token_apple_does_not_know_is_refused(apple):
    import base64
    import json

    forged = base64.b64encode(
        json.dumps(
            {"token": "Zm9yZ2Vk", "expDate": "2030-01-01T00:00:00+0000", "orgName": "X"}
        ).encode()
    )
    with pytest.raises(ValidationError, match=r"does not recognise|not accepted"):
        _import(forged)
    assert not VppToken.objects.exists()


def test_apple_unreachable_saves_nothing_and_says_try_again(apple, token_file, settings):
    settings.VPP_SERVICE_URL = "http://127.0.0.1:1/mdm/v2"
    with pytest.raises(ValidationError, match="try again"):
        _import(token_file())
    assert not VppToken.objects.exists()


def test_bad_apple_id_and_account_type_are_refused(apple, token_file):
    with pytest.raises(ValidationError, match="email address"):
        _import(token_file(), apple_id="not-an-email")
    with pytest.raises(ValidationError, match="Business or Education"):
        _import(token_file(), account_type="personal")


def test_foreign_claim_is_saved_as_assigned_elsewhere_and_nothing_is_written(apple, token_file):
    data = token_file()
    apple.claim_by_other(data.decode())
    token = _import(data)
    assert token.state == State.CLAIMED_ELSEWHERE
    assert token.foreign_mdm_name == "Other Device Management Product"
    assert "Take control" in token.state_reason
    assert apple.location(data.decode()).mdm_info["id"] == "other-mdm-7f3c2a91"


def test_take_control_writes_our_claim(apple, token_file):
    data = token_file()
    apple.claim_by_other(data.decode())
    token = token_take_control(token=_import(data))
    assert token.state == State.VALID
    assert token.foreign_mdm_id == ""
    assert apple.location(data.decode()).mdm_info["id"] == our_mdm_info().id


def test_renew_replaces_the_file_and_keeps_the_row(apple, token_file):
    token = _import(token_file(days=20))
    assert token.state == State.EXPIRING_SOON
    renewed_file = token_file(days=365)
    renewed = token_renew(token=token, file_bytes=renewed_file)
    assert renewed.pk == token.pk
    assert renewed.state == State.VALID
    assert decrypt(renewed.secret_ciphertext) == renewed_file.decode()
    assert renewed.renewed_at is not None
    assert VppToken.objects.count() == 1


def test_renew_for_another_location_is_refused(apple, token_file):
    token = _import(token_file("Main Library"))
    with pytest.raises(ValidationError, match="must be for the same location"):
        token_renew(token=token, file_bytes=token_file("Annex Library"))


def test_renew_with_the_current_file_is_refused(apple, token_file):
    data = token_file()
    token = _import(data)
    with pytest.raises(ValidationError, match="already uses"):
        token_renew(token=token, file_bytes=data)


def test_renew_keeps_books_assignments_and_history(apple, token_file):
    from assignments.models import GroupAssignment, License
    from ebooks.models import EBook
    from sync.models import SyncRun
    from tests.factories import AppleUserFactory, PersonFactory, UserGroupFactory

    token = _import(token_file(days=20))
    book = EBook.objects.create(token=token, adam_id="123", pricing_param="STDQ", title="Kept")
    person = PersonFactory()
    group = UserGroupFactory(members=[person])
    GroupAssignment.objects.create(ebook=book, group=group, intent="required")
    user = AppleUserFactory(token=token, person=person)
    License.objects.create(token=token, ebook=book, apple_user=user, person=person)
    SyncRun.objects.create(token=token, trigger="manual", state="succeeded")
    token_renew(token=token, file_bytes=token_file(days=365))
    assert EBook.objects.filter(token=token).count() == 1
    assert GroupAssignment.objects.filter(ebook=book).count() == 1
    assert License.objects.filter(token=token).count() == 1
    assert SyncRun.objects.filter(token=token).count() == 1
