"""Settings for the test suite: the real settings, fed a test environment.

DATABASE_URL and REDIS_URL pass through untouched, so CI runs on PostgreSQL and Redis while a
laptop uses SQLite and the embedded broker in a throwaway folder.
"""

from __future__ import annotations

import os
import tempfile

os.environ["ENV_FILE"] = ""  # a developer's .env must not change what the tests see
# Nor may the simulator endpoints the Makefile exports for `make run`: tests start their own
# simulator, and the artwork host check must be tested against the shipped defaults.
for _name in ("VPP_SERVICE_URL", "VPP_STORE_LOOKUP_URL", "VPP_ARTWORK_HOSTS", "PUBLIC_URL"):
    os.environ.pop(_name, None)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="shelfkeeper-test-"))
os.environ.setdefault("SECURE_COOKIES", "false")
# A fixed Fernet key so encrypted fixtures are stable; never used outside tests.
os.environ.setdefault("VPP_TOKEN_KEY", "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=")

from config.settings import *  # noqa: E402, F403 - after the environment above is set

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
HEALTHZ_TIMEOUT = 5
# Mail tasks run in-process at once (retries included) instead of after a commit that the
# test's transaction never makes; tests of the queued path turn this off.
MAIL_SEND_EAGER = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the concurrency and kill tests use other threads and processes.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
