"""Health of the parts the portal needs: database, broker, a live worker, beat, the token key.

Each check returns a CheckResult; failures carry a short reason that never includes connection
strings (they may hold passwords).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

PONG = "pong"
BEAT_HEARTBEAT_KEY = "shelfkeeper:beat-heartbeat"
# Beat runs the heartbeat every minute; allow a missed tick before calling beat down.
BEAT_STALE_AFTER = 150


@dataclass
class CheckResult:
    ok: bool
    detail: str
    ms: int


def _timed(check) -> CheckResult:
    started = time.monotonic()
    try:
        ok, detail = check()
    except Exception as error:
        ok, detail = False, f"{type(error).__name__}: unreachable or failing"
    return CheckResult(ok=ok, detail=detail, ms=round((time.monotonic() - started) * 1000))


def _database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, connection.vendor


def _broker() -> tuple[bool, str]:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTHZ_TIMEOUT)
        return True, "connected"


def _worker() -> tuple[bool, str]:
    from config.celery import app

    # send_task always goes through the broker, so only a live worker can answer.
    result = app.send_task("config.tasks.ping", retry=False, expires=settings.HEALTHZ_TIMEOUT)
    try:
        answer = result.get(timeout=settings.HEALTHZ_TIMEOUT, propagate=True)
    except CeleryTimeout:
        return False, f"no worker answered within {settings.HEALTHZ_TIMEOUT}s"
    result.forget()
    return answer == PONG, "answered" if answer == PONG else "wrong answer"


def _beat() -> tuple[bool, str]:
    last = cache.get(BEAT_HEARTBEAT_KEY)
    if last is None:
        # A fresh install has not reached its first minute yet: say so without failing.
        return True, "no heartbeat yet (beat sends one every minute)"
    age = (timezone.now() - last).total_seconds()
    if age > BEAT_STALE_AFTER:
        return False, f"last heartbeat {int(age)}s ago"
    return True, f"last heartbeat {int(age)}s ago"


def beat_heartbeat_record() -> None:
    """Store the time of beat's latest heartbeat task."""
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now(), timeout=None)


CHECKS = {
    "database": _database,
    "broker": _broker,
    "worker": _worker,
    "beat": _beat,
}
# Pollers (load balancers, supervisors) may call many times a second: each answer is reused for
# a few seconds, and the worker round trip, the one slow check, runs at most once at a time.
CACHE_PREFIX = "shelfkeeper:healthz:"
FRESH_FOR = {"database": 5, "broker": 5, "worker": 10, "beat": 5}


def health_check_register(*, name: str, check, fresh_for: int = 30) -> None:
    """An app adds a check of its own (tokens: the token key), so config imports no app."""
    CHECKS[name] = check
    FRESH_FOR[name] = fresh_for


LAST_KNOWN_FOR = 300


def _quietly(call, default=None):
    """A cache call that never breaks /healthz (with Redis as cache, Redis may be what is down)."""
    try:
        return call()
    except Exception:
        return default


def _cached(name: str, check) -> CheckResult:
    """A check's result from the cache, or run it now (the worker's: one caller at a time)."""
    key = CACHE_PREFIX + name
    known = _quietly(lambda: cache.get(key))
    if known is not None:
        return CheckResult(**known)
    if name == "worker":
        return _worker_checked_once(key, check)
    result = _timed(check)
    _quietly(lambda: cache.set(key, asdict(result), timeout=FRESH_FOR[name]))
    return result


# One worker round trip at a time in this process: the file-based cache of the embedded setup
# has no atomic add (it looks, then writes), so threads could all win its lock.
_worker_check_running = threading.Lock()


def _worker_checked_once(key: str, check) -> CheckResult:
    """Only the caller that wins the lock waits for a worker; the rest answer at once with the
    last result, so a dead worker cannot tie up every web process."""
    if not _worker_check_running.acquire(blocking=False):
        return _last_known(key)
    try:
        lock_timeout = settings.HEALTHZ_TIMEOUT + 5
        if not _quietly(lambda: cache.add(key + ":lock", 1, timeout=lock_timeout), True):
            return _last_known(key)
        try:
            # A caller that held the lock a moment ago may have stored a fresh answer since
            # this one looked: use it rather than ping again.
            known = _quietly(lambda: cache.get(key))
            if known is not None:
                return CheckResult(**known)
            result = _timed(check)
            _quietly(lambda: cache.set(key + ":last", asdict(result), timeout=LAST_KNOWN_FOR))
            _quietly(lambda: cache.set(key, asdict(result), timeout=FRESH_FOR["worker"]))
        finally:
            _quietly(lambda: cache.delete(key + ":lock"))
        return result
    finally:
        _worker_check_running.release()


def _last_known(key: str) -> CheckResult:
    last = _quietly(lambda: cache.get(key + ":last"))
    if last is not None:
        return CheckResult(**last)
    return CheckResult(ok=False, detail="first check in progress", ms=0)


def health_cache_clear() -> None:
    """Forget cached results (tests, and after a configuration change)."""
    cache.delete_many(
        [CACHE_PREFIX + name + suffix for name in CHECKS for suffix in ("", ":last", ":lock")]
    )


def health_report(*, detail: bool = False) -> dict:
    """Every check, cached; the worker check is skipped when the broker is down.

    Without detail only whether each part answers; with it, the reason and timings too.
    """
    results: dict[str, CheckResult] = {}
    for name, check in CHECKS.items():
        if name == "worker" and not results["broker"].ok:
            results[name] = CheckResult(ok=False, detail="skipped: broker is down", ms=0)
            continue
        results[name] = _cached(name, check)
    healthy = all(result.ok for result in results.values())
    return {
        "status": "ok" if healthy else "fail",
        "failing": [name for name, result in results.items() if not result.ok],
        "checks": {
            name: asdict(result) if detail else {"ok": result.ok}
            for name, result in results.items()
        },
    }
