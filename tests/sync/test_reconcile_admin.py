"""Reconcile pages: history and live progress for operators, Reconcile now, nothing for viewers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sync.models import ReconcileRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_celery(monkeypatch):
    queued = []
    monkeypatch.setattr("sync.reconcile.queue.run_enqueue", lambda **kw: queued.append(kw))
    return queued


def _now_url(token) -> str:
    return reverse("admin:sync_token_reconcile_now", args=[token.pk])


@pytest.mark.parametrize("role_client", ["portal_admin_client", "operator_client"])
def test_admins_and_operators_press_reconcile_now(request, role_client, vpp_token, no_celery):
    client = request.getfixturevalue(role_client)
    page = client.get(reverse("admin:tokens_vpptoken_change", args=[vpp_token.pk]))
    assert _now_url(vpp_token) in page.content.decode()
    response = client.post(_now_url(vpp_token), follow=True)
    run = ReconcileRun.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:sync_reconcilerun_change", args=[run.pk]
    )
    assert run.trigger == ReconcileRun.Trigger.MANUAL and run.requested_by is not None
    assert no_celery == [{"run_id": run.pk}]
    again = client.post(_now_url(vpp_token), follow=True)
    assert "already queued" in again.content.decode()
    assert ReconcileRun.objects.count() == 1


def test_viewers_cannot_reconcile_or_read_runs(viewer_client, vpp_token):
    page = viewer_client.get(reverse("admin:tokens_vpptoken_change", args=[vpp_token.pk]))
    assert _now_url(vpp_token) not in page.content.decode()
    assert viewer_client.post(_now_url(vpp_token)).status_code == 403
    assert viewer_client.get(reverse("admin:sync_reconcilerun_changelist")).status_code == 403
    assert not ReconcileRun.objects.exists()


def test_anonymous_is_sent_to_login(client, vpp_token):
    response = client.post(_now_url(vpp_token))
    assert response.status_code == 302 and "login" in response.url
    assert not ReconcileRun.objects.exists()


def test_run_page_shows_live_progress_and_is_read_only(operator_client, vpp_token):
    run = ReconcileRun.objects.create(
        token=vpp_token,
        trigger=ReconcileRun.Trigger.SYNC,
        state=ReconcileRun.State.RUNNING,
        progress_done=3,
        progress_total=4,
        licenses_requested=12,
    )
    listing = operator_client.get(reverse("admin:sync_reconcilerun_changelist"))
    assert listing.status_code == 200 and "After a sync" in listing.content.decode()
    page = operator_client.get(reverse("admin:sync_reconcilerun_change", args=[run.pk]))
    body = page.content.decode()
    assert "sync_progress.js" in body and 'data-active="1"' in body
    progress = operator_client.get(reverse("admin:sync_reconcilerun_progress", args=[run.pk]))
    assert progress.json()["percent"] == 75
    assert progress.json()["counters"]["licenses requested"] == 12
    assert 'name="_save"' not in body


def test_reconcile_now_needs_post(operator_client, vpp_token):
    assert operator_client.get(_now_url(vpp_token)).status_code == 405
