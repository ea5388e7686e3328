"""Every environment variable is read, and a bad value stops start-up with a sentence."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from celery.schedules import crontab

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "config" / "settings.py"
REPO = SETTINGS_FILE.parent.parent
VARIABLES = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "TIME_ZONE",
    "EMAIL_URL",
    "VPP_SERVICE_URL",
    "VPP_STORE_LOOKUP_URL",
    "VPP_TOKEN_KEY",
    "VAR_DIR",
    "BEAT_HEARTBEAT_CRON",
    "SECURE_COOKIES",
    "CSRF_TRUSTED_ORIGINS",
    "BEHIND_PROXY",
    "HEALTHZ_TIMEOUT",
    "DEFAULT_FROM_EMAIL",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_COOLOFF_MINUTES",
    "PASSWORD_RESET_LIMIT",
    "VPP_ARTWORK_HOSTS",
]


@pytest.fixture
def load(monkeypatch, tmp_path):
    """Run config/settings.py afresh with exactly the given variables set."""

    def _load(**values: str) -> dict:
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ENV_FILE", "")
        monkeypatch.setenv("VAR_DIR", str(tmp_path))
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    return _load


def _rejects(load, expected: list[str], **values: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        load(**values)
    message = str(stopped.value.code)
    for words in expected:
        assert words in message
    return message


def test_defaults_are_sqlite_and_embedded_broker(load, tmp_path):
    settings = load(DEBUG="true")
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert settings["CELERY_BROKER_URL"] == "filesystem://"
    assert settings["CELERY_RESULT_BACKEND"].startswith("file://")
    assert settings["VPP_SERVICE_URL"] == "https://vpp.itunes.apple.com/mdm/v2"
    assert settings["VPP_STORE_LOOKUP_URL"].endswith("/wa/lookup")
    assert settings["TIME_ZONE"] == "UTC"
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_every_variable_is_parsed(load):
    settings = load(
        DEBUG="0",
        SECRET_KEY="s3cret-value",
        ALLOWED_HOSTS="books.example.org, portal.example.org",
        DATABASE_URL="postgres://shelf:pw@db.example.org:5433/shelfkeeper",
        REDIS_URL="redis://cache.example.org:6379/2",
        TIME_ZONE="Europe/Paris",
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example.org:587",
        VPP_SERVICE_URL="http://127.0.0.1:9090/mdm/v2/",
        VPP_STORE_LOOKUP_URL="http://127.0.0.1:9090/lookup",
        VPP_TOKEN_KEY="key-one,key-two",
        BEAT_HEARTBEAT_CRON="*/5 * * * *",
        CSRF_TRUSTED_ORIGINS="https://books.example.org",
        BEHIND_PROXY="yes",
        HEALTHZ_TIMEOUT="9",
        LOGIN_FAILURE_LIMIT="7",
        LOGIN_COOLOFF_MINUTES="30",
        PASSWORD_RESET_LIMIT="3",
        VPP_ARTWORK_HOSTS="covers.example.org, 127.0.0.1",
    )
    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == "s3cret-value"
    assert settings["ALLOWED_HOSTS"] == ["books.example.org", "portal.example.org"]
    database = settings["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "db.example.org",
        5433,
        "shelfkeeper",
    )
    assert settings["CELERY_BROKER_URL"] == "redis://cache.example.org:6379/2"
    assert settings["CELERY_RESULT_BACKEND"] == "redis://cache.example.org:6379/2"
    assert settings["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    assert settings["TIME_ZONE"] == settings["CELERY_TIMEZONE"] == "Europe/Paris"
    assert settings["EMAIL_HOST"] == "smtp.example.org"
    assert settings["EMAIL_PORT"] == 587
    assert settings["EMAIL_USE_TLS"] is True
    assert settings["VPP_SERVICE_URL"] == "http://127.0.0.1:9090/mdm/v2"
    assert settings["VPP_STORE_LOOKUP_URL"] == "http://127.0.0.1:9090/lookup"
    assert settings["VPP_TOKEN_KEY"] == "key-one,key-two"
    assert settings["CELERY_BEAT_SCHEDULE"]["beat heartbeat"]["schedule"] == crontab(minute="*/5")
    assert settings["CSRF_TRUSTED_ORIGINS"] == ["https://books.example.org"]
    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["HEALTHZ_TIMEOUT"] == 9
    assert settings["AXES_FAILURE_LIMIT"] == 7
    assert settings["AXES_COOLOFF_TIME"].total_seconds() == 30 * 60
    assert settings["PASSWORD_RESET_LIMIT"] == 3
    assert settings["VPP_ARTWORK_HOSTS"] == ["covers.example.org", "127.0.0.1"]


def test_celery_broker_url_wins_over_redis_url(load):
    settings = load(
        DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/0", CELERY_BROKER_URL="amqp://guest@mq//"
    )
    assert settings["CELERY_BROKER_URL"] == "amqp://guest@mq//"
    assert settings["CELERY_RESULT_BACKEND"] == "rpc://"


def test_beat_entry_can_be_disabled(load):
    settings = load(DEBUG="1", BEAT_HEARTBEAT_CRON="disable")
    assert "beat heartbeat" not in settings["CELERY_BEAT_SCHEDULE"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"DEBUG": "maybe"}, ["DEBUG", "'maybe' is not a yes/no value", "true or false"]),
        ({"DEBUG": "false"}, ["SECRET_KEY", "required when DEBUG is off"]),
        ({"DEBUG": "1", "DATABASE_URL": "not a url"}, ["DATABASE_URL", "postgres://"]),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://u@h/db"}, ["DATABASE_URL", "'mysql'"]),
        ({"DEBUG": "1", "DATABASE_URL": "postgres://u@h:port/db"}, ["DATABASE_URL", "parsed"]),
        ({"DEBUG": "1", "DATABASE_URL": "postgres://u@h:5432/"}, ["DATABASE_URL", "no database"]),
        ({"DEBUG": "1", "REDIS_URL": "localhost:6379"}, ["REDIS_URL", "redis://"]),
        ({"DEBUG": "1", "CELERY_BROKER_URL": "http://x"}, ["CELERY_BROKER_URL", "not a broker"]),
        ({"DEBUG": "1", "TIME_ZONE": "Mars/Olympus"}, ["TIME_ZONE", "IANA"]),
        ({"DEBUG": "1", "EMAIL_URL": "carrier-pigeon://x"}, ["EMAIL_URL", "smtp://"]),
        ({"DEBUG": "1", "VPP_SERVICE_URL": "vpp.example"}, ["VPP_SERVICE_URL", "http(s)"]),
        ({"DEBUG": "1", "VPP_STORE_LOOKUP_URL": "ftp://x/y"}, ["VPP_STORE_LOOKUP_URL", "http"]),
        ({"DEBUG": "1", "BEAT_HEARTBEAT_CRON": "every minute"}, ["BEAT_HEARTBEAT_CRON", "five"]),
        ({"DEBUG": "1", "BEAT_HEARTBEAT_CRON": "99 * * * *"}, ["BEAT_HEARTBEAT_CRON", "valid"]),
        ({"DEBUG": "1", "HEALTHZ_TIMEOUT": "soon"}, ["HEALTHZ_TIMEOUT", "whole number"]),
        ({"DEBUG": "1", "HEALTHZ_TIMEOUT": "0"}, ["HEALTHZ_TIMEOUT", "too small"]),
        ({"DEBUG": "1", "BEHIND_PROXY": "perhaps"}, ["BEHIND_PROXY", "yes/no"]),
    ],
)
def test_bad_value_is_rejected_with_the_fix(load, values, expected):
    message = _rejects(load, expected, **values)
    assert message.startswith("Shelfkeeper cannot start: ")


def test_database_password_is_not_echoed_in_the_message(load):
    message = _rejects(load, ["DATABASE_URL"], DEBUG="1", DATABASE_URL="mysql://u:hunter2@h/db")
    assert "hunter2" not in message


def test_manage_py_stops_with_a_sentence_not_a_traceback(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key not in VARIABLES} | {
        "ENV_FILE": "",
        "VAR_DIR": str(tmp_path),
        "DEBUG": "maybe",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    finished = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert "DEBUG: 'maybe' is not a yes/no value" in finished.stderr
    assert "Traceback" not in finished.stderr
