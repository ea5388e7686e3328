"""Django settings. Every value that differs between machines comes from config/env.py."""

from __future__ import annotations

from datetime import timedelta
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
    # Seconds a mail server may take before a send fails (and is retried by the mail task).
    EMAIL_TIMEOUT = read_int("EMAIL_TIMEOUT", default=10, minimum=1)
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
    # Hosts book covers may be fetched from (a name also admits its subdomains).
    VPP_ARTWORK_HOSTS = read_list("VPP_ARTWORK_HOSTS", default=["mzstatic.com", "apple.com"])
    # Comma-separated Fernet keys, newest first; checked by the tokens app's system check.
    VPP_TOKEN_KEY = read_str("VPP_TOKEN_KEY")
    HEALTHZ_TIMEOUT = read_int("HEALTHZ_TIMEOUT", default=5, minimum=1)
    CELERY_BEAT_SCHEDULE = build_beat_schedule()
    SECURE_COOKIES = read_bool("SECURE_COOKIES", default=not DEBUG)
    CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", default=[])
    BEHIND_PROXY = read_bool("BEHIND_PROXY", default=False)
    # HTTPS hardening for deployments behind TLS; off by default so a plain-HTTP dev box works.
    SECURE_HSTS_SECONDS = read_int("SECURE_HSTS_SECONDS", default=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = read_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = read_bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_SSL_REDIRECT = read_bool("SECURE_SSL_REDIRECT", default=False)
    # Login throttling (django-axes): failures per user name and address, then a cool-off.
    AXES_FAILURE_LIMIT = read_int("LOGIN_FAILURE_LIMIT", default=5, minimum=1)
    LOGIN_COOLOFF_MINUTES = read_int("LOGIN_COOLOFF_MINUTES", default=15, minimum=1)
    # Password-reset requests an hour, per email address and per client address: a reset
    # sends mail, so an open form would let anyone flood a colleague's inbox or the mail server.
    PASSWORD_RESET_LIMIT = read_int("PASSWORD_RESET_LIMIT", default=5, minimum=1)
    # Requests per API key (or signed-in user), DRF's "number/period" form.
    API_RATE_LIMIT = read_str("API_RATE_LIMIT", default="600/min")
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
    # SQLite serialises writers. WAL lets readers run beside the writer and commits without a
    # disk sync per transaction (NORMAL is durable across process crashes, which is what the
    # sync's idempotent writes need); the busy timeout waits for the lock instead of failing.
    # IMMEDIATE takes the write lock when a transaction begins: a transaction that read first
    # and then wrote would otherwise get "database is locked" at once, timeout or not.
    # For the sync's single writer (measured on its license batches at BENCH_SCALE=0.2):
    # a 32 MiB page cache per connection (default 2 MiB) keeps the hot index pages of its
    # batches in memory, and a WAL checkpoint every 8,192 pages (default 1,000) copies a page
    # back once, not once per few batches: together 15 % less CPU. 8 KiB pages (default 4 KiB)
    # take 8 % more off; a database takes its page size when created (first, before WAL), an
    # existing one keeps its own.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; "
            "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=8192",
        }
    )
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
    "axes",
    "csp",
    "tokens",
    "ebooks",
    "assignments",
    "sync",
    "staff",
    "audit",
    "reports",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    # Last: its post_migrate handler sets role permissions once every app's permissions exist.
    "config.apps.PortalConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.middleware.NulCleaningMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy on every page (django-csp): scripts only from our own static files,
# never inline, so injected markup cannot run. Style attributes stay (badges, progress bars).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out logins
    "django.contrib.auth.backends.ModelBackend",
]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept, not just the counter
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # no banner on every start; failures are logged regardless

ROOT_URLCONF = "config.urls"
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.debug.AlwaysSafeExceptionReporterFilter"
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
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # its messages are written whole
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
# "Sync now" while the broker is down must fail in a couple of seconds, not hang a web worker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 3
if CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_IMPORTS = ("config.mail",)  # the mail task lives beside the settings it reads

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"no_403_traceback": {"()": "config.logs.NoTracebackForForbidden"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["no_403_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The client's address for login throttling and the audit log: the proxy's last hop.
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

# The REST API (/api/v1/, the api app): keys or a session, role permissions, problem details.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only; the token renewal upload declares its own multipart parser.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_RATE_LIMIT},
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shelfkeeper API",
    "DESCRIPTION": "Read and drive the portal; the device-management channel reports installs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["api.views.SignedInPermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Sync and reconcile runs share their states; one enum in the document names both.
    "ENUM_NAME_OVERRIDES": {"RunStateEnum": "sync.models.SyncRun.State"},
}
