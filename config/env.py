"""The one place that reads the environment.

Every reader validates strictly and raises SettingError naming the variable and the fix, so a
typo stops start-up with a sentence instead of a traceback or, worse, a silent default.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

import environ

env = environ.Env()

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "sqlite"}
BROKER_SCHEMES = {"redis", "rediss", "amqp", "pyamqp", "filesystem"}
EMAIL_SCHEMES = {
    "smtp",
    "smtps",
    "smtp+tls",
    "smtp+ssl",
    "consolemail",
    "filemail",
    "memorymail",
    "dummymail",
}


class SettingError(Exception):
    """A setting read from the environment has a value we cannot use."""

    def __init__(self, name: str, problem: str, fix: str) -> None:
        super().__init__(f"{name}: {problem}. {fix}")
        self.name = name


def is_set(name: str) -> bool:
    """True when the variable is present and not empty."""
    return bool(env.str(name, default="").strip())


def read_str(name: str, *, default: str = "") -> str:
    """A plain string, stripped."""
    return env.str(name, default=default).strip()


def read_bool(name: str, *, default: bool) -> bool:
    """A boolean that accepts only unambiguous words (environ would read 'maybe' as False)."""
    raw = env.str(name, default="").strip().lower()
    if not is_set(name):
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise SettingError(name, f"'{raw}' is not a yes/no value", "Use true or false (or 1/0).")


def read_list(name: str, *, default: list[str]) -> list[str]:
    """A comma-separated list; blanks dropped."""
    if not is_set(name):
        return list(default)
    return [item.strip() for item in env.str(name).split(",") if item.strip()]


def read_int(name: str, *, default: int, minimum: int = 0) -> int:
    """A whole number no smaller than minimum."""
    if not is_set(name):
        return default
    raw = env.str(name).strip()
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(name, f"'{raw}' is not a whole number", "Use digits only.") from None
    if value < minimum:
        raise SettingError(name, f"{value} is too small", f"Use {minimum} or more.")
    return value


def read_database(name: str, *, default_sqlite: Path) -> dict:
    """Django DATABASES['default'] from a URL; unset means a SQLite file."""
    if not is_set(name):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite)}
    url = env.str(name).strip()
    fix = "Use postgres://USER:PASSWORD@HOST:5432/NAME or sqlite:////absolute/path.db."
    scheme = urlsplit(url).scheme
    if scheme not in DATABASE_SCHEMES:
        raise SettingError(name, f"scheme '{scheme or '(none)'}' is not supported", fix)
    try:
        config = environ.Env.db_url_config(url)
    except (ValueError, environ.ImproperlyConfigured) as error:
        raise SettingError(name, f"cannot be parsed ({error})", fix) from None
    if not config.get("NAME"):
        raise SettingError(name, "names no database", fix)
    return config


def read_broker_url(names: tuple[str, ...]) -> str:
    """The first broker URL that is set, or '' for the embedded broker."""
    for name in names:
        if not is_set(name):
            continue
        url = env.str(name).strip()
        scheme = urlsplit(url).scheme
        if scheme not in BROKER_SCHEMES:
            raise SettingError(
                name,
                f"scheme '{scheme or '(none)'}' is not a broker",
                "Use redis://HOST:6379/0, or unset it for the embedded broker.",
            )
        return url
    return ""


def read_email(name: str, *, default: str) -> dict:
    """Django EMAIL_* settings from a URL such as smtp://user:pass@host:587."""
    url = read_str(name, default=default)
    fix = "Use smtp://USER:PASSWORD@HOST:587, smtp+tls://..., or consolemail:// for development."
    if urlsplit(url).scheme not in EMAIL_SCHEMES:
        raise SettingError(name, f"'{urlsplit(url).scheme or url}' is not a mail URL scheme", fix)
    try:
        return environ.Env.email_url_config(url)
    except (ValueError, environ.ImproperlyConfigured) as error:
        raise SettingError(name, f"cannot be parsed ({error})", fix) from None


def read_http_url(name: str, *, default: str) -> str:
    """An http(s) base URL without a trailing slash."""
    url = read_str(name, default=default)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingError(name, f"'{url}' is not an http(s) URL", "Use e.g. https://host/path.")
    return url.rstrip("/")


def read_time_zone(name: str, *, default: str) -> str:
    """An IANA time zone name."""
    value = read_str(name, default=default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            name, f"'{value}' is not a time zone", "Use an IANA name such as Europe/Paris or UTC."
        ) from None
    return value
