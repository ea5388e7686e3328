"""Sync pages: Sync now for admins and operators only, run history, live progress."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ebooks.models import EBook
from sync.models import SyncRun
from tokens.models import VppToken

pytestmark = pytest.mark.django_db


def _sync_now_url(token) -> str:
    return reverse("admin:sync_token_sync_now", args=[token.pk])


@pytest.fixture(autouse=True)
def no_celery(monkeypatch):
    queued = []
    monkeypatch.setattr("sync.tasks.sync_token.delay", queued.append)
    return queued


@pytest.mark.parametrize("role_client", ["portal_admin_client", "operator_client"])
def test_admins_and_operators_press_sync_now(request, role_client, vpp_token):
    client = request.getfixturevalue(role_client)
    page = client.get(reverse("admin:tokens_vpptoken_change", args=[vpp_token.pk])).content.decode()
    assert _sync_now_url(vpp_token) in page
    response = client.post(_sync_now_url(vpp_token), follow=True)
    run = SyncRun.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:sync_syncrun_change", args=[run.pk])
    assert run.trigger == SyncRun.Trigger.MANUAL
    assert "queued" in response.content.decode()


def test_second_press_says_already_running(portal_admin_client, vpp_token):
    portal_admin_client.post(_sync_now_url(vpp_token))
    response = portal_admin_client.post(_sync_now_url(vpp_token), follow=True)
    assert "already queued" in response.content.decode()
    assert SyncRun.objects.count() == 1


def test_viewers_cannot_sync(viewer_client, vpp_token):
    page = viewer_client.get(reverse("admin:tokens_vpptoken_change", args=[vpp_token.pk]))
    assert _sync_now_url(vpp_token) not in page.content.decode()
    assert viewer_client.post(_sync_now_url(vpp_token)).status_code == 403
    assert viewer_client.get(reverse("admin:sync_syncrun_changelist")).status_code == 403
    assert not SyncRun.objects.exists()


def test_sync_now_needs_post(portal_admin_client, vpp_token):
    assert portal_admin_client.get(_sync_now_url(vpp_token)).status_code == 405


def test_bulk_sync_now_action_on_the_token_list(operator_client, vpp_token, token_file):
    from tokens.services import token_import

    other = token_import(
        file_bytes=token_file("Annex"), apple_id="a@b.example", account_type="business"
    )
    response = operator_client.post(
        reverse("admin:tokens_vpptoken_changelist"),
        {"action": "sync_now_action", "_selected_action": [vpp_token.pk, other.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert SyncRun.objects.count() == 2


def test_viewers_do_not_get_the_bulk_action(viewer_client, vpp_token):
    page = viewer_client.get(reverse("admin:tokens_vpptoken_changelist")).content.decode()
    assert "sync_now_action" not in page


def test_run_list_and_live_progress(portal_admin_client, apple, vpp_token, sync_now):
    run = sync_now(vpp_token)
    listing = portal_admin_client.get(reverse("admin:sync_syncrun_changelist")).content.decode()
    assert "Succeeded" in listing
    page = portal_admin_client.get(
        reverse("admin:sync_syncrun_change", args=[run.pk])
    ).content.decode()
    assert "sync_progress.js" in page
    assert 'role="progressbar"' in page
    progress = portal_admin_client.get(reverse("admin:sync_syncrun_progress", args=[run.pk])).json()
    assert progress["state"] == "succeeded"
    assert progress["percent"] == 100
    assert progress["counters"]["books added"] == run.books_added


def test_failed_run_page_shows_the_error(portal_admin_client, apple, vpp_token, sync_now):
    apple.set_faults("expired")
    run = sync_now(vpp_token)
    page = portal_admin_client.get(
        reverse("admin:sync_syncrun_change", args=[run.pk])
    ).content.decode()
    assert "The token has expired" in page


def test_token_list_shows_last_sync(portal_admin_client, apple, vpp_token, sync_now):
    sync_now(vpp_token)
    sync_now(vpp_token)  # the second run changes nothing: the column still shows the totals
    page = portal_admin_client.get(reverse("admin:tokens_vpptoken_changelist")).content.decode()
    token = VppToken.objects.get()
    books = EBook.objects.filter(token=token, gone_at__isnull=True, unlimited=False)
    assert EBook.objects.filter(token=token, unlimited=True).exists()  # left out of the sum
    total = sum(books.values_list("total_count", flat=True))
    assigned = sum(books.values_list("assigned_count", flat=True))
    assert token.book_count > 0 and total > 0
    assert ">OK</span>" in page
    assert f"{token.book_count} books · {total} licenses, {assigned} assigned" in page


def test_uploading_a_token_queues_its_first_sync_and_says_so(portal_admin_client, token_file):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = portal_admin_client.post(
        reverse("admin:tokens_vpptoken_add"),
        {
            "token_file": SimpleUploadedFile("t.vpptoken", token_file()),
            "apple_id": "books@springfield.example",
            "account_type": "education",
            "name": "",
        },
        follow=True,
    )
    run = SyncRun.objects.get()
    assert (run.token, run.state, run.requested_by) == (
        VppToken.objects.get(),
        SyncRun.State.QUEUED,
        response.wsgi_request.user,
    )
    page = response.content.decode()
    assert "Its first sync is queued" in page
    assert reverse("admin:sync_syncrun_change", args=[run.pk]) in page


def test_the_sync_now_action_comes_from_the_tokens_hook_registry(operator, license_viewer):
    from tokens.hooks import token_actions_for

    assert [a.name for a in token_actions_for(operator)] == [
        "sync_now_action",
        "reconcile_now_action",  # the reconciler's, registered the same way
    ]
    assert token_actions_for(license_viewer) == []
