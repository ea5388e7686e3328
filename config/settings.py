"""Django settings. Every value that differs between machines comes from config/env.py."""

from __future__ import annotations

from pathlib import Path

from config.env import (
    SettingError,
    env,
    read_bool,
    read_broker_url,
    read_database,
    read_email,
    read_http_url,
    read_int,
    read_list,
    read_str,
    read_time_zone,
)
from config.schedule import build_beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent
# KEY=value lines (`make run` writes one with development secrets). Values already in the
# environment win over the file; ENV_FILE="" reads none.
ENV_FILE = read_str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE)

try:
    VAR_DIR = Path(read_str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
    DEBUG = read_bool("DEBUG", default=False)
    SECRET_KEY = read_str("SECRET_KEY")
    if not SECRET_KEY:
        if not DEBUG:
            raise SettingError(
                "SECRET_KEY",
                "is required when DEBUG is off",
                "Set it to a long random string, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
            )
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
    ALLOWED_HOSTS = read_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
    DATABASES = {"default": read_database("DATABASE_URL", default_sqlite=VAR_DIR / "db.sqlite3")}
    REDIS_URL = read_broker_url(("REDIS_URL",))
    CELERY_BROKER_URL = read_broker_url(("CELERY_BROKER_URL", "REDIS_URL"))
    TIME_ZONE = read_time_zone("TIME_ZONE", default="UTC")
    EMAIL = read_email("EMAIL_URL", default="consolemail://")
    DEFAULT_FROM_EMAIL = read_str("DEFAULT_FROM_EMAIL", default="shelfkeeper@localhost")
    VPP_SERVICE_URL = read_http_url(
        "VPP_SERVICE_URL", default="https://vpp.itunes.apple.com/mdm/v2"
    )
    VPP_STORE_LOOKUP_URL = read_http_url(
        "VPP_STORE_LOOKUP_URL",
        default="https://uclient-api.itunes.apple.com/WebObjects/MZStorePlatform.woa/wa/lookup",
    )
    # The portal's public URL: when set, Apple's notifications are registered to
    # PUBLIC_URL/apple/notifications/<token-id>/ (empty: outcomes are learnt by polling).
    PUBLIC_URL = read_http_url("PUBLIC_URL", default="") if read_str("PUBLIC_URL") else ""
    # Comma-separated Fernet keys, newest first; checked by the tokens app's system check.
    VPP_TOKEN_KEY = read_str("VPP_TOKEN_KEY")
    HEALTHZ_TIMEOUT = read_int("HEALTHZ_TIMEOUT", default=5, minimum=1)
    CELERY_BEAT_SCHEDULE = build_beat_schedule()
    SECURE_COOKIES = read_bool("SECURE_COOKIES", default=not DEBUG)
    CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", default=[])
    BEHIND_PROXY = read_bool("BEHIND_PROXY", default=False)
except SettingError as error:
    raise SystemExit(f"Shelfkeeper cannot start: {error}") from None

EMAIL_BACKEND = EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = EMAIL["EMAIL_HOST"] or "localhost"
EMAIL_PORT = EMAIL["EMAIL_PORT"] or 25
EMAIL_HOST_USER = EMAIL["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = EMAIL["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = bool(EMAIL.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(EMAIL.get("EMAIL_USE_SSL"))
EMAIL_FILE_PATH = EMAIL["EMAIL_FILE_PATH"] or str(VAR_DIR / "mail")

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20})
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "tokens",
    "ebooks",
    "assignments",
    "sync",
    # Last: its post_migrate handler sets role permissions once every app's permissions exist.
    "config.apps.PortalConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tokens.context_processors.token_banner_context",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # Shared by web, worker and beat processes on one machine (the beat heartbeat lives here).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Celery: JSON only, bounded task time, one message at a time per worker process.
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL:
    # The worker round trip in /healthz needs results; AMQP brokers answer over rpc.
    CELERY_RESULT_BACKEND = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "rpc://"
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "queue"),
        "processed_folder": str(EMBEDDED_BROKER_DIR / "processed"),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'broker' / 'results'}"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
