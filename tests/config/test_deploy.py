"""Deployment: HTTPS settings from the environment, `check --deploy` clean, a broken key stops
gunicorn, and `make run`'s .env is private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FERNET_KEY = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE="
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "deploy-check-" + "x9Qz" * 16,
    "ALLOWED_HOSTS": "books.example.org",
    "VPP_TOKEN_KEY": FERNET_KEY,
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_SSL_REDIRECT": "true",
}


def _run(tmp_path, code_or_args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "DJANGO_", "VPP_TOKEN")) and key != "DEBUG"
    }
    environment.update(ENV_FILE="", VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    environment.update(env)
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_https_settings_come_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SECURE_SSL_REDIRECT)"
    )
    done = _run(tmp_path, ["-c", f"import django; django.setup(); {code}"], **PRODUCTION)
    assert done.stdout.split() == ["31536000", "True", "True", "True"], done.stderr


def test_a_bad_hsts_value_stops_start_up_with_a_sentence(tmp_path):
    done = _run(tmp_path, ["manage.py", "check"], **{**PRODUCTION, "SECURE_HSTS_SECONDS": "year"})
    assert done.returncode != 0
    assert "SECURE_HSTS_SECONDS: 'year' is not a whole number" in done.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = _run(
        tmp_path, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize("key", ["", "not-a-fernet-key"])
def test_wsgi_refuses_to_start_without_a_usable_token_key(tmp_path, key):
    done = _run(tmp_path, ["-c", "import config.wsgi"], **{**PRODUCTION, "VPP_TOKEN_KEY": key})
    assert done.returncode != 0
    assert "tokens.E001" in done.stderr
    assert "VPP_TOKEN_KEY" in done.stderr


def test_wsgi_starts_with_a_good_key(tmp_path):
    done = _run(tmp_path, ["-c", "import config.wsgi"], **PRODUCTION)
    assert done.returncode == 0, done.stderr


def test_make_run_writes_a_private_env_file(tmp_path):
    # The Makefile's own .env recipe, run in a scratch copy so a developer's .env is untouched.
    (tmp_path / "Makefile").write_text((REPO / "Makefile").read_text())
    done = subprocess.run(
        ["make", "--no-print-directory", f"PYTHON={sys.executable}", ".env"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    mode = stat.S_IMODE((tmp_path / ".env").stat().st_mode)
    assert mode == 0o600
