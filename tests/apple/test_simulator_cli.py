"""The simulator's command line, run as real processes (`python -m apple.simulator`)."""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from apple.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apple.simulator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """A simulator process on a free port with a state file; yields (process, url, state)."""
    state = tmp_path / "state.json.gz"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apple.simulator",
            "--port",
            "0",
            "--state",
            str(state),
            "--event-delay",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line + proc.stderr.read()
        yield proc, match.group(1), state
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_issue_token_writes_a_vpptoken_file_and_exits(tmp_path: Path) -> None:
    path = tmp_path / "demo.vpptoken"

    result = run_cli(
        "--issue-token", str(path), "--org", "Lakeside", "--location", "North", "--days", "30"
    )

    assert result.returncode == 0, result.stderr
    outer = json.loads(base64.b64decode(path.read_text()))
    assert outer["orgName"] == "Lakeside" and set(outer) == {"token", "expDate", "orgName"}
    assert "demo.vpptoken" in result.stdout


def test_running_server_accepts_cli_token_and_cli_accepts_invitation(server) -> None:
    proc, url, state = server
    token_path = state.parent / "t.vpptoken"
    issued = run_cli(
        "--issue-token", str(token_path), "--org", "O", "--location", "L", "--state", str(state)
    )
    assert issued.returncode == 0, issued.stderr
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_path.read_text()}"
    session.post(
        f"{url}/mdm/v2/users/create", json={"users": [{"clientUserId": "sk-cli"}]}, timeout=10
    )
    [user] = session.get(
        f"{url}/mdm/v2/users", params={"clientUserId": "sk-cli"}, timeout=10
    ).json()["users"]

    accepted = run_cli("--accept-invitation", user["inviteCode"], "--url", url)

    assert accepted.returncode == 0, accepted.stderr
    assert "Associated" in accepted.stdout
    [user] = session.get(
        f"{url}/mdm/v2/users", params={"clientUserId": "sk-cli"}, timeout=10
    ).json()["users"]
    assert user["status"] == "Associated"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    saved = Simulator(state_path=state)
    assert saved.user(token_path.read_text(), "sk-cli")["status"] == "Associated"


def test_accepting_an_unknown_invitation_fails(server) -> None:
    _proc, url, _state = server

    result = run_cli("--accept-invitation", "not-a-code", "--url", url)

    assert result.returncode == 1
    assert "unknown invitation" in result.stderr


def test_bad_generate_spec_stops_with_a_message() -> None:
    result = run_cli("--port", "0", "--generate", "books=lots")

    assert result.returncode == 2
    assert "books needs an integer" in result.stderr


def test_expired_token_from_cli_is_refused_by_the_server(server) -> None:
    _proc, url, state = server
    path = state.parent / "old.vpptoken"
    run_cli(
        "--issue-token",
        str(path),
        "--org",
        "O",
        "--location",
        "L",
        "--state",
        str(state),
        "--expired",
    )

    response = requests.get(
        f"{url}/mdm/v2/assets", headers={"Authorization": f"Bearer {path.read_text()}"}, timeout=10
    )

    assert (response.status_code, response.json()["errorNumber"]) == (401, 9621)


def test_management_command_passes_options_to_the_cli(tmp_path: Path) -> None:
    apps = pytest.importorskip("django.apps").apps
    if not apps.ready:
        pytest.skip("Django is not set up (run with the pytest-django plugin)")
    from django.core.management import call_command

    path = tmp_path / "cmd.vpptoken"
    out = io.StringIO()

    call_command(
        "vpp_simulator", "--issue-token", str(path), "--org", "O", "--location", "L", stdout=out
    )

    assert json.loads(base64.b64decode(path.read_text()))["orgName"] == "O"
    assert "cmd.vpptoken" in out.getvalue()
