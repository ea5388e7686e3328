"""Tokens through the API: never the secret; Sync now returns the run; renew by upload."""

from __future__ import annotations

import io

import pytest

from api.models import ApiKey
from sync.models import SyncRun
from tests.factories import EBookFactory, VppTokenFactory
from tokens.models import VppToken

pytestmark = pytest.mark.django_db


def test_token_shows_state_expiry_and_license_summary_never_the_secret(admin_api):
    token = VppTokenFactory(secret_ciphertext="CIPHERTEXT-SECRET")
    EBookFactory(token=token, total_count=10, assigned_count=4, available_count=6)
    EBookFactory(token=token, total_count=5, assigned_count=5, available_count=0)
    EBookFactory(token=token, total_count=99, gone=True)
    response = admin_api.get(f"/api/v1/tokens/{token.pk}/")
    body = response.json()
    assert body["license_summary"] == {"total": 15, "assigned": 9, "available": 6, "retired": 0}
    assert body["state"] == "valid" and body["days_left"] >= 299
    assert "CIPHERTEXT-SECRET" not in response.content.decode()
    assert token.fingerprint not in response.content.decode()


def test_sync_now_queues_one_run_and_returns_it(key_client, django_capture_on_commit_callbacks):
    token = VppTokenFactory()
    client = key_client(ApiKey.Scope.OPERATOR)
    with django_capture_on_commit_callbacks() as callbacks:
        first = client.post(f"/api/v1/tokens/{token.pk}/sync/")
    assert first.status_code == 202
    assert len(callbacks) == 1  # the Celery task, once the run is committed
    run = SyncRun.objects.get()
    assert first.json()["id"] == run.pk and first.json()["state"] == "queued"
    assert run.trigger == SyncRun.Trigger.MANUAL and run.requested_by is None
    again = client.post(f"/api/v1/tokens/{token.pk}/sync/")
    assert again.status_code == 200 and again.json()["id"] == run.pk
    assert SyncRun.objects.count() == 1


def test_renew_by_upload_replaces_the_file_for_the_same_location(vpp_token, token_file, admin_api):
    before = vpp_token.fingerprint
    upload = io.BytesIO(token_file())
    upload.name = "renewed.vpptoken"
    response = admin_api.post(
        f"/api/v1/tokens/{vpp_token.pk}/renew/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 200, response.content
    vpp_token.refresh_from_db()
    assert vpp_token.fingerprint != before and vpp_token.renewed_at is not None


def test_renew_with_a_file_for_another_location_is_refused(vpp_token, token_file, admin_api):
    upload = io.BytesIO(token_file(location="Somewhere Else"))
    upload.name = "other.vpptoken"
    response = admin_api.post(
        f"/api/v1/tokens/{vpp_token.pk}/renew/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 422
    assert "same location" in response.json()["detail"]
    assert VppToken.objects.get().renewed_at is None


def test_renew_without_a_file_says_so(admin_api):
    token = VppTokenFactory()
    response = admin_api.post(f"/api/v1/tokens/{token.pk}/renew/", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["detail"]


def test_book_shows_counts_as_of_install_summary_and_forecast(admin_api):
    from django.utils import timezone

    from assignments.models import InstallRequest
    from tests.factories import DeviceFactory

    book = EBookFactory(total_count=10, assigned_count=10, available_count=0)
    book.counts_as_of = timezone.now()
    book.save()
    for state in ("installed", "installed", "failed", "no_books_app"):
        InstallRequest.objects.create(device=DeviceFactory(), ebook=book, state=state)
    body = admin_api.get(f"/api/v1/books/{book.pk}/").json()
    assert body["counts_as_of"] is not None
    summary = body["install_summary"]
    assert (summary["installed"], summary["failed"], summary["no_books_app"]) == (2, 1, 1)
    assert body["forecast"]["available"] == 0
    assert body["forecast"]["runs_out_on"] is not None
    listed = admin_api.get("/api/v1/books/").json()["results"]
    assert listed[0]["install_summary"] == summary


def test_reconcile_runs_are_listed_with_their_counters(key_client):
    from sync.models import ReconcileRun

    run = ReconcileRun.objects.create(
        token=VppTokenFactory(), trigger="assignment", licenses_assigned=7, shortfall=2
    )
    body = key_client(ApiKey.Scope.OPERATOR).get("/api/v1/reconcile-runs/").json()
    assert [(r["id"], r["licenses_assigned"], r["shortfall"]) for r in body["results"]] == [
        (run.pk, 7, 2)
    ]
