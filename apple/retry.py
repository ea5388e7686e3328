"""Retry rules: back-off with jitter, Retry-After, and which network failures are safe to resend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from apple.errors import AppleError, RateLimitedError, TransientError

__all__ = [
    "TRANSPORT_FAILURES",
    "RetryPolicy",
    "parse_retry_after",
    "transport_error",
]

# Network failures we turn into TransientError; anything else (bad URL...) is a bug and propagates.
TRANSPORT_FAILURES = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: bounded attempts and a bounded total wait."""

    max_attempts: int = 5
    max_total_wait: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 60.0

    def backoff(self, failures: int, rng: Callable[[], float]) -> float:
        """Exponential delay after `failures` failed attempts, with "equal jitter"."""
        delay = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        # Half fixed, half random: spreads clients apart but never retries instantly.
        return delay * (0.5 + 0.5 * rng())

    def delay_before_retry(
        self,
        error: AppleError,
        *,
        failures: int,
        remaining: float,
        write: bool,
        rng: Callable[[], float],
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up with `error`."""
        if not isinstance(error, TransientError | RateLimitedError):
            return None
        if write and isinstance(error, TransientError) and error.maybe_queued:
            return None
        if failures >= self.max_attempts:
            return None
        delay = error.retry_after
        if delay is None:
            delay = self.backoff(failures, rng)
        # Waiting longer than the budget allows only to fail anyway wastes the caller's time.
        return delay if delay <= remaining else None


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT even when the zone is missing
        return None
    return max(0.0, when.timestamp() - now)


def _never_reached_apple(exc: BaseException) -> bool:
    """True when the request provably never left this machine (connect/TLS failed)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    for arg in exc.args:
        reason = arg.reason if isinstance(arg, MaxRetryError) else arg
        # urllib3's NewConnectionError (refused, DNS failure) subclasses ConnectTimeoutError.
        if isinstance(reason, ConnectTimeoutError):
            return True
    return False


def transport_error(
    exc: BaseException, *, write: bool, redact: Callable[[str], str]
) -> TransientError:
    """A TransientError for a network failure; a write that may have reached Apple is flagged."""
    reached = not _never_reached_apple(exc)
    kind = type(exc).__name__
    if reached:
        message = f"No answer from Apple after sending the request ({kind})"
    else:
        message = f"Could not connect to Apple ({kind})"
    # Only the exception's type and text are kept: the exception object itself holds the
    # prepared request, whose headers carry the token.
    detail = redact(str(exc))[:300]
    text = f"{message}: {detail}" if detail else message
    return TransientError(text, maybe_queued=write and reached)
