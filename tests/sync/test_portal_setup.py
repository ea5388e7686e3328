"""First-run set-up: the admin gets an email for alerts, the printed URL is the real one."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

APPS = {"tokens", "ebooks", "assignments", "sync", "staff"}


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def _setup(*args: str) -> str:
    out = io.StringIO()
    call_command("portal_setup", "--no-demo", *args, stdout=out)
    return out.getvalue()


def test_email_given_to_portal_setup_reaches_the_admin_account(monkeypatch):
    monkeypatch.setenv("WEB_PORT", "8123")
    output = _setup("--email", "IT@Springfield.example")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.email == "it@springfield.example"
    assert "http://127.0.0.1:8123/admin/" in output
    assert "it@springfield.example (token alerts go here)" in output


def test_without_an_email_portal_setup_warns_that_alerts_reach_nobody(monkeypatch):
    monkeypatch.delenv("WEB_PORT", raising=False)
    output = _setup()
    assert "http://127.0.0.1:8000/admin/" in output
    assert "alerts reach nobody" in output
    # Given later, the address is added to the existing admin; the password stays the same.
    password = next(line for line in output.splitlines() if "password:" in line)
    again = _setup("--email", "it@springfield.example")
    assert password in again
    assert get_user_model().objects.get(username="admin").email == "it@springfield.example"


def test_a_bad_email_is_refused_in_words():
    with pytest.raises(CommandError, match="is not an email address"):
        _setup("--email", "not-an-address")
    assert not get_user_model().objects.exists()


def test_config_imports_no_app():
    """config is the base every app stands on: imports flow one way."""
    for path in (Path(__file__).resolve().parents[2] / "config").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in APPS, f"{path} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in APPS, f"{path} imports {alias.name}"
