"""Upload a token, sync, press Sync now, render every page, dump the database: the token and
VPP_TOKEN_KEY appear nowhere — not in HTML, logs, task payloads or dumpdata."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from sync.models import SyncRun
from sync.services import sync_run_execute
from tests.reliability.test_permission_matrix import _pages, _samples
from tokens.models import VppToken

pytestmark = pytest.mark.django_db


def _needles(content: str) -> dict[str, str]:
    inner = json.loads(base64.b64decode(content))["token"]
    return {
        "token file": content,
        "token file (start)": content[:32],
        "inner token": inner,
        "inner token (start)": inner[:24],
        "VPP_TOKEN_KEY": settings.VPP_TOKEN_KEY,
    }


def test_no_secret_in_pages_logs_task_payloads_or_dumpdata(
    portal_admin_client,
    admin_client,
    admin_user,
    apple,
    token_file,
    sync_now,
    caplog,
    django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)
    payloads: list[str] = []

    def keep_payload(body=None, headers=None, **kwargs):
        payloads.append(json.dumps({"body": body, "headers": headers}, default=str))

    before_task_publish.connect(keep_payload, weak=False)
    try:
        content = token_file().decode()
        portal_admin_client.post(
            reverse("admin:tokens_vpptoken_add"),
            {
                "token_file": SimpleUploadedFile("t.vpptoken", content.encode()),
                "apple_id": "books@springfield.example",
                "account_type": "education",
                "name": "",
            },
        )
        token = VppToken.objects.get()
        # An upload queues the token's first sync; run that one (as a worker would), else one.
        first = SyncRun.objects.filter(token=token, state=SyncRun.State.QUEUED).first()
        run = sync_run_execute(run_id=first.pk) if first else sync_now(token)
        assert run.state == "succeeded", run.error_message
        with django_capture_on_commit_callbacks(execute=True):  # publishes to the test broker
            portal_admin_client.post(reverse("admin:sync_token_sync_now", args=[token.pk]))
    finally:
        before_task_publish.disconnect(keep_payload)
    assert payloads, "Sync now published no task: the payload check would prove nothing"

    html = []
    samples = {**_samples(), VppToken: token}  # the real token's own pages too
    for client in (portal_admin_client, admin_client):
        for page in _pages(samples, admin_user):
            if page.name in {"admin:logout", "healthz"}:
                continue
            html.append(client.get(page.url).content.decode(errors="replace"))
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)

    places = {
        "HTML": "\n".join(html),
        "logs": caplog.text,
        "task payloads": "\n".join(payloads),
        "dumpdata": dump.getvalue(),
    }
    assert len(html) > 50
    found = [
        f"{what} in {where}"
        for what, needle in _needles(content).items()
        for where, text in places.items()
        if needle in text
    ]
    assert found == []
