"""Exceptions raised by the Apple client, one family per way a caller must react."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apple.types import EventFailure, EventRef, MdmInfo

__all__ = [
    "AppleError",
    "AppleRequestError",
    "AuthError",
    "ClaimedElsewhereError",
    "PermanentError",
    "RateLimitedError",
    "TokenExpiredError",
    "TokenInvalidError",
    "TokenRevokedError",
    "TransientError",
    "error_for",
    "plain_message",
]


def _restore(cls: type[AppleError], state: dict[str, Any]) -> AppleError:
    """Rebuild a pickled error without calling its keyword-only __init__."""
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class AppleError(Exception):
    """Base error: what Apple (or the network) said, never the token."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_number: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_number = error_number
        self.retry_after = retry_after
        # Batched writes fill this in when a later batch fails, so callers keep
        # the events Apple already queued.
        self.partial_events: tuple[EventRef, ...] = ()

    def __str__(self) -> str:
        details = []
        if self.error_number is not None:
            details.append(f"Apple error {self.error_number}")
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, http_status={self.http_status!r}, "
            f"error_number={self.error_number!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles task errors; the default reduce would call __init__(*args) and fail.
        return (_restore, (type(self), dict(self.__dict__)))


class PermanentError(AppleError):
    """Apple will keep refusing: retrying cannot help (e.g. 9634 service removed)."""


class AuthError(PermanentError):
    """The token is not accepted; an admin must act."""


class TokenExpiredError(AuthError):
    """9621: the token has passed its expiry date."""


class TokenRevokedError(AuthError):
    """9625: Apple revoked the token."""


class TokenInvalidError(AuthError):
    """9601, 9622, 9722: missing, malformed or unknown token."""


class ClaimedElsewhereError(AppleError):
    """Another MDM's mdmInfo is on this token's location; writes are refused."""

    def __init__(self, mdm_info: MdmInfo, *, http_status: int | None = None) -> None:
        super().__init__(
            f"The location is claimed by another MDM ({mdm_info.name or mdm_info.id})",
            http_status=http_status,
        )
        self.mdm_info = mdm_info


class RateLimitedError(AppleError):
    """429 / 9646: Apple asks us to slow down; retry after `retry_after` seconds."""


class TransientError(AppleError):
    """5xx, 9603, timeouts, connection errors, unreadable bodies: retrying may help."""

    def __init__(self, message: str, *, maybe_queued: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        # True when a write reached Apple but no answer came back: Apple may have
        # queued it, so resending could do the work twice.
        self.maybe_queued = maybe_queued


class AppleRequestError(AppleError):
    """Apple rejected this request (9602, 9609, 9650, 97xx): fix the request, not the timing."""


_AUTH_ERRORS: dict[int, type[AuthError]] = {
    9601: TokenInvalidError,
    9621: TokenExpiredError,
    9622: TokenInvalidError,
    9625: TokenRevokedError,
    9722: TokenInvalidError,
}
_PERMANENT_NUMBERS = frozenset({9634})
_TRANSIENT_NUMBERS = frozenset({9603})
_RATE_LIMIT_NUMBERS = frozenset({9646})


def _class_for_number(error_number: int) -> type[AppleError] | None:
    """The family of a known Apple error number, or None when unknown."""
    if error_number in _AUTH_ERRORS:
        return _AUTH_ERRORS[error_number]
    if error_number in _PERMANENT_NUMBERS:
        return PermanentError
    if error_number in _TRANSIENT_NUMBERS:
        return TransientError
    if error_number in _RATE_LIMIT_NUMBERS:
        return RateLimitedError
    if error_number in (9602, 9609, 9650) or 9700 <= error_number <= 9799:
        return AppleRequestError
    return None


def _class_for_status(http_status: int | None) -> type[AppleError]:
    """The family implied by an HTTP status alone."""
    if http_status in (401, 403):
        return TokenInvalidError
    if http_status == 410:
        return PermanentError
    if http_status == 429:
        return RateLimitedError
    if http_status is not None and http_status >= 500:
        return TransientError
    return AppleRequestError


def error_for(
    *,
    http_status: int | None,
    error_number: int | None,
    message: str,
    retry_after: float | None = None,
) -> AppleError:
    """Build the right error for Apple's answer: the error number wins over the HTTP status."""
    cls = _class_for_number(error_number) if error_number is not None else None
    if cls is None:
        cls = _class_for_status(http_status)
    return cls(
        message,
        http_status=http_status,
        error_number=error_number,
        retry_after=retry_after,
    )


_RENEW = "Download a new one from Apple School/Business Manager and renew it here."

_PLAIN_BY_NUMBER: dict[int, str] = {
    9601: "Apple asked for a login: the token was not accepted. " + _RENEW,
    9602: "Apple rejected a value Shelfkeeper sent. This is a bug; please report it.",
    9603: "Apple had an internal error. Shelfkeeper will try again later.",
    9609: "The user is not registered with Apple (any more); they must be registered again.",
    9621: "The token has expired. " + _RENEW,
    9622: "Apple does not recognise this token. " + _RENEW,
    9625: (
        "Apple has revoked this token (for example after the account that downloaded it changed "
        "its password). " + _RENEW
    ),
    9634: "Apple says this service is no longer available. Check for a Shelfkeeper update.",
    9646: "Apple is receiving too many requests for this organisation. Shelfkeeper will retry.",
    9650: "The list changed while Shelfkeeper was reading it. The next sync will pick it up.",
    9706: "Book licenses cannot be taken back once assigned.",
    9707: "Books can be assigned to users only, not to devices.",
    9708: "Apple no longer knows this request; its outcome will show up in the next sync.",
    9709: "There are not enough licenses left for this book. Buy more or assign fewer.",
    9716: "A user with this id is already registered with Apple.",
    9717: "Apple rejected a user's email address. Correct it in the directory.",
    9721: "The saved sync position is no longer valid; Shelfkeeper will run a full sync.",
    9722: "The token was not sent the way Apple expects. " + _RENEW,
}


def plain_message(error: AppleError | EventFailure) -> str:
    """The reason for an error in plain words for an admin."""
    if isinstance(error, ClaimedElsewhereError):
        who = error.mdm_info.name or error.mdm_info.id
        return (
            f"Another management product ({who}) now manages this token. Shelfkeeper has stopped "
            "changing licenses; use 'Take control' if Shelfkeeper should manage it again."
        )
    if isinstance(error, TransientError) and error.maybe_queued:
        return (
            "The connection to Apple broke after the request was sent; Apple may still carry it "
            "out. Shelfkeeper will check before trying again."
        )
    number = error.error_number
    if number is not None and number in _PLAIN_BY_NUMBER:
        return _PLAIN_BY_NUMBER[number]
    return _plain_for_family(error)


def _plain_for_family(error: AppleError | EventFailure) -> str:
    """Fallback wording when the error number has no message of its own."""
    if isinstance(error, AuthError):
        return "Apple does not accept this token. " + _RENEW
    if isinstance(error, PermanentError):
        return "Apple refuses this request permanently. Check for a Shelfkeeper update."
    if isinstance(error, RateLimitedError):
        return _PLAIN_BY_NUMBER[9646]
    if isinstance(error, TransientError):
        return "Apple's service could not be reached or had a temporary problem. Retrying later."
    suffix = f" (error {error.error_number})" if error.error_number is not None else ""
    return f"Apple rejected the request: {error.message}{suffix}"
