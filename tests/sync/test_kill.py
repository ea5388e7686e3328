"""A sync process killed mid-run (SIGKILL) loses nothing: the next run converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apple.client import clear_service_config_cache
from apple.simulator import Simulator
from sync.models import SyncRun
from sync.services import sync_runs_reap
from tests.sync.conftest import snapshot
from tests.sync.test_engine import _forget_everything
from tokens.clients import client_user_id_prefix
from tokens.services import token_import

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def slow_simulator(settings):
    spec = (
        f"books=30,users=400,assignments=3000,foreign_users=30,apps=2,"
        f"prefix={client_user_id_prefix()},seed=11"
    )
    sim = Simulator(generate=spec, page_size=25, event_delay=0.0)
    sim.start(port=0)
    settings.VPP_SERVICE_URL = sim.api_url
    settings.VPP_STORE_LOOKUP_URL = sim.lookup_url
    clear_service_config_cache()
    yield sim
    sim.stop()
    clear_service_config_cache()


def test_killed_sync_then_sync_again_equals_an_uninterrupted_run(slow_simulator, sync_now):
    content = slow_simulator.issue_token(org="District", location="Depot")
    token = token_import(
        file_bytes=content.encode(), apple_id="a@b.example", account_type="education"
    )
    # Slow the licenses down so the kill lands in the middle of them.
    slow_simulator.set_faults("slow:delay=0.05:path=/assignments")
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": _database_url(),
        "VAR_DIR": str(settings.VAR_DIR),
        "TEST_WORKER_VPP_SERVICE_URL": slow_simulator.api_url,
        "TEST_WORKER_VPP_STORE_LOOKUP_URL": slow_simulator.lookup_url,
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "vpp_sync", "--token", str(token.pk)],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    run = None
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(token=token).first()
        if run and run.phase == SyncRun.Phase.ASSIGNMENTS and run.progress_done >= 10:
            break
        assert worker.poll() is None, worker.stderr.read().decode()
        time.sleep(0.05)
    else:
        pytest.fail(f"the sync never reached the licenses: {run and run.phase}")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    slow_simulator.clear_faults()

    run.refresh_from_db()
    assert run.state == SyncRun.State.RUNNING  # nobody told the database
    partial = snapshot(token)
    assert len(partial["licenses"]) > 0

    assert sync_runs_reap(now=timezone.now() + timedelta(minutes=11)) == 1
    resumed = sync_now(token)
    assert resumed.state == SyncRun.State.SUCCEEDED, resumed.error_message
    after_kill = snapshot(token)
    assert len(after_kill["licenses"]) > len(partial["licenses"])

    _forget_everything(token)
    sync_now(token, full=True)
    assert snapshot(token) == after_kill
