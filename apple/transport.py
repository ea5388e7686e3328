"""HTTP exchange with Apple: credentials, timeouts, retries, and turning answers into errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from apple.errors import AppleError, TransientError, error_for
from apple.retry import TRANSPORT_FAILURES, RetryPolicy, parse_retry_after, transport_error

__all__ = ["Transport"]

logger = logging.getLogger(__name__)


class _Secret:
    """Holds the token so that no repr, str or debugger view shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for the one place that builds request headers."""
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


class _Headers(dict[str, str]):
    """Request headers whose repr hides credentials (tracebacks with locals print reprs)."""

    def __repr__(self) -> str:
        hidden = {"authorization", "cookie"}
        return repr({k: "<redacted>" if k.lower() in hidden else v for k, v in self.items()})


class Transport:
    """Sends requests for one token, retrying transient failures within a RetryPolicy."""

    def __init__(
        self,
        token: str,
        *,
        timeout: float | tuple[float, float],
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        rng: Callable[[], float],
        session: requests.Session | None,
    ) -> None:
        # Headers cannot carry the file's trailing newline; the content is otherwise sent verbatim.
        token = (token or "").strip()
        if not token:
            raise ValueError("token is empty")
        self._token = _Secret(token)
        self._timeout = timeout
        self.retry = retry
        self._sleep = sleep
        self.clock = clock
        self._wall_clock = wall_clock
        self._rng = rng
        self._session = session or requests.Session()
        self._count_lock = threading.Lock()
        self._request_count = 0

    def __repr__(self) -> str:
        return f"Transport(timeout={self._timeout!r}, retry={self.retry!r})"

    @property
    def request_count(self) -> int:
        """HTTP requests sent, retries included."""
        with self._count_lock:
            return self._request_count

    def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        write: bool = False,
        cookie_auth: bool = False,
    ) -> tuple[dict[str, Any], int]:
        """One logical request, retried within the policy: (JSON object, HTTP status)."""
        deadline = self.clock() + self.retry.max_total_wait
        failures = 0
        while True:
            try:
                return self._send(method, url, params, body, write=write, cookie_auth=cookie_auth)
            except AppleError as error:
                failures += 1
                delay = self.retry.delay_before_retry(
                    error,
                    failures=failures,
                    remaining=deadline - self.clock(),
                    write=write,
                    rng=self._rng,
                )
                if delay is None:
                    raise
                logger.warning(
                    "Apple %s %s failed (%s); retry %d of %d in %.1f s",
                    method,
                    urlsplit(url).path,
                    error,
                    failures,
                    self.retry.max_attempts - 1,
                    delay,
                )
                self._sleep(delay)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        *,
        write: bool,
        cookie_auth: bool,
    ) -> tuple[dict[str, Any], int]:
        """One HTTP exchange, or the matching AppleError."""
        headers = _Headers(Accept="application/json")
        if cookie_auth:  # the store look-up takes the token as the `itvt` cookie
            headers["Cookie"] = f"itvt={self._token.reveal()}"
        else:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        with self._count_lock:
            self._request_count += 1
        try:
            response = self._session.request(
                method, url, params=params, json=body, headers=headers, timeout=self._timeout
            )
        except TRANSPORT_FAILURES as exc:
            # `from None`: the requests exception holds the prepared request and its headers.
            raise transport_error(exc, write=write, redact=self.redact) from None
        return self._read(response, write=write), response.status_code

    def _read(self, response: requests.Response, *, write: bool) -> dict[str, Any]:
        """Check a response: errorNumber (even on 200), HTTP status, then that it is JSON."""
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._wall_clock())
        try:
            data = response.json()
        except ValueError:
            data = None
        number = _error_number(data)
        if number is not None:
            message = self.redact(str(data.get("errorMessage") or "Apple reported an error"))
            raise error_for(
                http_status=status, error_number=number, message=message, retry_after=retry_after
            )
        if not 200 <= status < 300:
            error = error_for(
                http_status=status,
                error_number=None,
                message="Apple answered with an error status",
                retry_after=retry_after,
            )
            # A gateway timeout means Apple's side may still be working on the request.
            if write and status == 504 and isinstance(error, TransientError):
                error.maybe_queued = True
            raise error
        if not isinstance(data, dict):
            # A 2xx for a write means Apple accepted it, even if we cannot read the answer.
            raise TransientError(
                "Apple's response is not a JSON object", http_status=status, maybe_queued=write
            )
        return data

    def redact(self, text: str) -> str:
        """Text with the token removed, for messages built from outside input."""
        return text.replace(self._token.reveal(), "<redacted>")


def _error_number(data: Any) -> int | None:
    """Apple's errorNumber from a body, if any."""
    if not isinstance(data, dict) or data.get("errorNumber") in (None, "", 0):
        return None
    try:
        return int(data["errorNumber"])
    except (TypeError, ValueError):
        return -1  # an errorNumber we cannot read is still an error
