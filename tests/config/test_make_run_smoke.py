"""What `make run` starts (web, worker, beat on the embedded broker and SQLite) really works."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Variables a developer or CI may have set that would point the stack elsewhere.
SCRUBBED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY",
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_demo_books(database: Path) -> int:
    """Books the first (queued) sync brought in, once it succeeded."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            runs = db.execute("SELECT state, error_message FROM sync_syncrun").fetchall()
            states = [state for state, _ in runs]
            if "succeeded" in states:
                return db.execute("SELECT COUNT(*) FROM ebooks_ebook").fetchone()[0]
            assert "failed" not in states, f"the demo token's first sync failed: {runs}"
        time.sleep(0.5)
    pytest.fail(f"the demo token's first sync did not finish: {states}")


def _password(output: str) -> str:
    return next(line for line in output.splitlines() if "password:" in line)


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_stack_is_healthy_and_stops_cleanly(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    port, simulator_port = _free_port(), _free_port()
    environment |= {
        "DEBUG": "1",
        "ENV_FILE": "",
        "VAR_DIR": str(tmp_path / "var"),
        "WEB_PORT": str(port),
        "SIMULATOR_PORT": str(simulator_port),
        # What the Makefile exports for `make run`.
        "VPP_SERVICE_URL": f"http://127.0.0.1:{simulator_port}/mdm/v2",
        "VPP_STORE_LOOKUP_URL": f"http://127.0.0.1:{simulator_port}/lookup",
        "VPP_TOKEN_KEY": "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=",
        "PYTHONUNBUFFERED": "1",
    }
    first, second = (
        subprocess.run(
            [sys.executable, "manage.py", "portal_setup"],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    )
    assert first.returncode == 0, first.stderr
    assert "username: admin" in first.stdout
    assert "Imported the demo token" in first.stdout
    # Running it again is safe: same login, no second demo token.
    assert second.returncode == 0, second.stderr
    assert _password(second.stdout) == _password(first.stdout)
    assert "demo token" not in second.stdout
    empty_env = tmp_path / "empty.env"
    empty_env.touch()
    log = (tmp_path / "honcho.log").open("w")
    stack = subprocess.Popen(
        # honcho loads .env by default; a developer's .env must not reach this isolated stack.
        [str(BIN / "honcho"), "start", "-f", "Procfile.dev", "-e", str(empty_env)],
        cwd=REPO,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                body = response.json()
                if response.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(
                f"/healthz not healthy in time: {body}\n{(tmp_path / 'honcho.log').read_text()}"
            )
        assert body["status"] == "ok"
        assert body["checks"]["worker"]["ok"] is True
        # The simulator started with the state holding the demo token's claim, and the worker
        # syncs the demo token by itself: a new user sees its books without doing anything.
        health = requests.get(f"http://127.0.0.1:{simulator_port}/_sim/health", timeout=10)
        assert health.status_code == 200
        assert _wait_for_demo_books(tmp_path / "var" / "db.sqlite3") > 25
    finally:
        stack.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            pytest.fail("the stack did not stop within 30 s of Ctrl-C")
        log.close()
    deadline = time.monotonic() + 10
    while _process_group_alive(stack.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _process_group_alive(stack.pid), "a process of the stack outlived Ctrl-C"
