"""Token pages: upload, renew, take control, badges, banners, roles, and no secret anywhere."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from tokens.crypto import decrypt
from tokens.models import TokenAlert, VppToken
from tokens.services import token_import

pytestmark = pytest.mark.django_db

ADD = reverse("admin:tokens_vpptoken_add")
LIST = reverse("admin:tokens_vpptoken_changelist")


def _upload(client, data: bytes, **fields):
    payload = {
        "token_file": SimpleUploadedFile("springfield.vpptoken", data),
        "apple_id": "books@springfield.example",
        "account_type": "education",
        "name": "",
        **fields,
    }
    return client.post(ADD, payload, follow=True)


@pytest.fixture
def token(apple, token_file):
    return token_import(
        file_bytes=token_file(), apple_id="books@springfield.example", account_type="education"
    )


def test_portal_admin_uploads_a_token(portal_admin_client, apple, token_file, caplog):
    caplog.set_level(logging.DEBUG)
    data = token_file()
    response = _upload(portal_admin_client, data)
    assert response.status_code == 200
    token = VppToken.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:tokens_vpptoken_change", args=[token.pk]
    )
    page = response.content.decode()
    assert "Shelfkeeper manages its location" in page
    assert data.decode() not in page
    assert data.decode() not in caplog.text


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"garbage!!", "not Base64"),
        (b"x" * (64 * 1024 + 1), "under 64 KB"),
    ],
)
def test_bad_upload_shows_the_reason_not_an_error_page(portal_admin_client, apple, data, words):
    response = _upload(portal_admin_client, data)
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not VppToken.objects.exists()


def test_duplicate_upload_is_refused_in_the_form(portal_admin_client, token, apple):
    response = _upload(portal_admin_client, decrypt(token.secret_ciphertext).encode())
    assert "already been uploaded" in response.content.decode()
    assert VppToken.objects.count() == 1


def test_list_shows_columns_and_badges_without_the_secret(portal_admin_client, token):
    page = portal_admin_client.get(LIST).content.decode()
    for text in ("Main Library", "Springfield Schools", "Valid", "never"):
        assert text in page
    assert "days left" in page
    assert 'class="portal-badge portal-badge--ok"' in page
    assert decrypt(token.secret_ciphertext) not in page
    assert token.secret_ciphertext not in page
    # The purchasing Apple ID is on the token's own page, not a column of the list.
    change = portal_admin_client.get(reverse("admin:tokens_vpptoken_change", args=[token.pk]))
    assert "books@springfield.example" in change.content.decode()


def test_change_page_has_no_secret_and_offers_renew(portal_admin_client, token):
    page = portal_admin_client.get(
        reverse("admin:tokens_vpptoken_change", args=[token.pk])
    ).content.decode()
    assert decrypt(token.secret_ciphertext) not in page
    assert token.secret_ciphertext not in page
    assert "secret_ciphertext" not in page
    assert reverse("admin:tokens_vpptoken_renew", args=[token.pk]) in page
    assert "Take control" not in page


def test_renew_through_the_admin(portal_admin_client, token, token_file):
    renewed = token_file(days=200)
    url = reverse("admin:tokens_vpptoken_renew", args=[token.pk])
    response = portal_admin_client.post(
        url, {"token_file": SimpleUploadedFile("new.vpptoken", renewed)}, follow=True
    )
    assert "renewed" in response.content.decode()
    token.refresh_from_db()
    assert decrypt(token.secret_ciphertext) == renewed.decode()


def test_take_control_needs_the_confirmation(portal_admin_client, apple, token_file):
    data = token_file()
    apple.claim_by_other(data.decode())
    token = token_import(file_bytes=data, apple_id="a@b.example", account_type="business")
    change = portal_admin_client.get(reverse("admin:tokens_vpptoken_change", args=[token.pk]))
    assert "Take control" in change.content.decode()
    url = reverse("admin:tokens_vpptoken_take_control", args=[token.pk])
    unconfirmed = portal_admin_client.post(url, {})
    assert unconfirmed.status_code == 200
    assert VppToken.objects.get().state == VppToken.State.CLAIMED_ELSEWHERE
    portal_admin_client.post(url, {"confirm": "on"})
    assert VppToken.objects.get().state == VppToken.State.VALID


@pytest.mark.parametrize("role_client", ["operator_client", "viewer_client"])
def test_operators_and_viewers_read_but_cannot_change(
    request, role_client, token, apple, token_file
):
    client = request.getfixturevalue(role_client)
    assert client.get(LIST).status_code == 200
    assert decrypt(token.secret_ciphertext) not in client.get(LIST).content.decode()
    assert client.get(ADD).status_code == 403
    assert _upload(client, token_file("Annex")).status_code == 403
    assert client.get(reverse("admin:tokens_vpptoken_renew", args=[token.pk])).status_code == 403
    take = reverse("admin:tokens_vpptoken_take_control", args=[token.pk])
    assert client.post(take, {"confirm": "on"}).status_code == 403
    delete = reverse("admin:tokens_vpptoken_delete", args=[token.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert VppToken.objects.count() == 1


def test_delete_confirmation_lists_what_goes_with_it(portal_admin_client, token):
    TokenAlert.objects.create(token=token, kind="60d", expires_at=token.expires_at)
    delete = reverse("admin:tokens_vpptoken_delete", args=[token.pk])
    page = portal_admin_client.get(delete).content.decode()
    assert "Token alert: Main Library — 60 days left" in page
    portal_admin_client.post(delete, {"post": "yes"})
    assert not VppToken.objects.exists()


def test_banner_for_admins_and_operators_only(
    client, token, portal_admin, operator, license_viewer
):
    VppToken.objects.filter(pk=token.pk).update(state=VppToken.State.EXPIRING_SOON)
    index = reverse("admin:index")
    for user, sees in ((portal_admin, True), (operator, True), (license_viewer, False)):
        client.force_login(user)
        page = client.get(index).content.decode()
        assert ("expires in" in page) is sees, user


def test_secret_absent_from_dumpdata(token):
    out = io.StringIO()
    call_command("dumpdata", "tokens", stdout=out)
    assert decrypt(token.secret_ciphertext) not in out.getvalue()


def test_import_command(apple, token_file, tmp_path):
    path = tmp_path / "t.vpptoken"
    path.write_bytes(token_file())
    out = io.StringIO()
    call_command(
        "vpp_import_token", str(path), apple_id="a@b.example", account_type="business", stdout=out
    )
    assert "Imported token" in out.getvalue()
    assert VppToken.objects.get().account_type == "business"


def test_import_command_reports_a_bad_file_clearly(apple, tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "t.vpptoken"
    path.write_bytes(b"{not base64}")
    with pytest.raises(CommandError, match="not Base64"):
        call_command("vpp_import_token", str(path), apple_id="a@b.example", account_type="business")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command(
            "vpp_import_token",
            str(tmp_path / "missing"),
            apple_id="a@b.example",
            account_type="business",
        )


def test_rotate_command_reencrypts_with_the_new_key(token, settings):
    from cryptography.fernet import Fernet

    secret = decrypt(token.secret_ciphertext)
    old_key = settings.VPP_TOKEN_KEY
    new_key = Fernet.generate_key().decode()
    settings.VPP_TOKEN_KEY = f"{new_key},{old_key}"
    call_command("vpp_rotate_token_key", stdout=io.StringIO())
    settings.VPP_TOKEN_KEY = new_key
    assert decrypt(VppToken.objects.get().secret_ciphertext) == secret
