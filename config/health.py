"""Health of the parts the portal needs: database, broker, a live worker, and beat.

Each check returns a CheckResult; failures carry a short reason that never includes connection
strings (they may hold passwords).
"""

from __future__ import annotations

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


CHECKS = {"database": _database, "broker": _broker, "worker": _worker, "beat": _beat}


def health_report() -> dict:
    """Run every check; the worker check is skipped when the broker is down (it cannot pass)."""
    results: dict[str, CheckResult] = {}
    for name, check in CHECKS.items():
        if name == "worker" and not results["broker"].ok:
            results[name] = CheckResult(ok=False, detail="skipped: broker is down", ms=0)
            continue
        results[name] = _timed(check)
    healthy = all(result.ok for result in results.values())
    return {
        "status": "ok" if healthy else "fail",
        "failing": [name for name, result in results.items() if not result.ok],
        "checks": {name: asdict(result) for name, result in results.items()},
    }
