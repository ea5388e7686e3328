"""Errors: one family per reaction, errorNumber even on HTTP 200, plain words, no token leaks."""

from __future__ import annotations

import pickle
import traceback

import pytest
import requests

from apple import (
    AppleError,
    AppleRequestError,
    AuthError,
    ClaimedElsewhereError,
    EventFailure,
    MdmInfo,
    PermanentError,
    RateLimitedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
    TransientError,
    plain_message,
)
from tests.apple.helpers import BASE, TOKEN, apple_error, load

pytestmark = pytest.mark.usefixtures("token_never_logged")


@pytest.fixture
def once(make_client):
    """A client that gives up after the first attempt, to see each error as Apple sent it."""
    return make_client(max_attempts=1)


def raised_by(api, rsps, **response) -> AppleError:
    """The error raised by a client config read answered with `response`."""
    rsps.get(f"{BASE}/client/config", **response)
    with pytest.raises(AppleError) as caught:
        api.client_config()
    assert TOKEN not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("number", "status", "family"),
    [
        (9601, 401, TokenInvalidError),
        (9621, 401, TokenExpiredError),
        (9622, 401, TokenInvalidError),
        (9625, 401, TokenRevokedError),
        (9722, 401, TokenInvalidError),
        (9634, 410, PermanentError),
        (9646, 429, RateLimitedError),
        (9603, 500, TransientError),
        (9602, 400, AppleRequestError),
        (9609, 400, AppleRequestError),
        (9650, 400, AppleRequestError),
        (9700, 400, AppleRequestError),
        (9721, 400, AppleRequestError),
    ],
)
def test_each_apple_error_number_maps_to_its_family(rsps, once, number, status, family):
    error = raised_by(once, rsps, json=apple_error(number), status=status)

    assert type(error) is family
    assert error.error_number == number
    assert error.http_status == status
    assert error.message == apple_error(number)["errorMessage"]


def test_token_errors_are_auth_and_permanent(rsps, once):
    error = raised_by(once, rsps, json=apple_error(9625), status=401)

    assert isinstance(error, AuthError)
    assert isinstance(error, PermanentError)


@pytest.mark.parametrize("number", [9621, 9622, 9602])
def test_error_number_in_an_http_200_body_is_an_error(rsps, once, number):
    error = raised_by(once, rsps, json=apple_error(number), status=200)

    assert error.error_number == number
    assert error.http_status == 200


def test_error_number_wins_over_the_http_status(rsps, once):
    error = raised_by(once, rsps, json=apple_error(9621), status=400)

    assert isinstance(error, TokenExpiredError)


@pytest.mark.parametrize(
    ("status", "family"),
    [
        (401, TokenInvalidError),
        (403, TokenInvalidError),
        (404, AppleRequestError),
        (410, PermanentError),
        (429, RateLimitedError),
        (502, TransientError),
        (503, TransientError),
    ],
)
def test_http_status_without_apple_body_maps_to_a_family(rsps, once, status, family):
    error = raised_by(once, rsps, body="<html>Service Unavailable</html>", status=status)

    assert type(error) is family
    assert error.http_status == status
    assert error.error_number is None


@pytest.mark.parametrize(
    "response",
    [
        {"body": "<html>maintenance</html>", "status": 200},
        {"body": '{"truncated": ', "status": 200},
        {"json": ["not", "an", "object"], "status": 200},
        {"body": "", "status": 200},
    ],
)
def test_unreadable_body_is_transient(rsps, once, response):
    error = raised_by(once, rsps, **response)

    assert type(error) is TransientError


def test_timeout_is_transient(rsps, once):
    error = raised_by(once, rsps, body=requests.ReadTimeout("read timed out"))

    assert type(error) is TransientError
    assert "ReadTimeout" in str(error)


def test_connection_error_is_transient(rsps, once):
    error = raised_by(once, rsps, body=requests.ConnectionError("connection reset"))

    assert type(error) is TransientError


def test_rate_limited_error_carries_retry_after(rsps, once):
    error = raised_by(once, rsps, json=apple_error(9646), status=429, headers={"Retry-After": "30"})

    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 30.0


def test_claimed_elsewhere_carries_the_foreign_mdm_info(rsps, once):
    error = raised_by(once, rsps, json=load("client_config_other_mdm.json"))

    assert isinstance(error, ClaimedElsewhereError)
    assert error.mdm_info == MdmInfo(
        id="acme-mdm-0042", name="Acme MDM", metadata="acme.example.com"
    )


def test_str_names_message_number_and_status(rsps, once):
    error = raised_by(once, rsps, json=apple_error(9621), status=401)

    assert str(error) == (
        "Token has expired. Generate a new token from school.apple.com or business.apple.com. "
        "(Apple error 9621, HTTP 401)"
    )


def test_plain_message_for_an_expired_token_tells_the_admin_what_to_do(rsps, once):
    error = raised_by(once, rsps, json=apple_error(9621), status=401)

    assert plain_message(error) == (
        "The token has expired. "
        "Download a new one from Apple School/Business Manager and renew it here."
    )


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (TokenRevokedError("x", error_number=9625), "revoked"),
        (TokenInvalidError("x", http_status=401), "does not accept this token"),
        (PermanentError("x", error_number=9634), "no longer available"),
        (RateLimitedError("x", http_status=429), "too many requests"),
        (TransientError("x", http_status=503), "temporary problem"),
        (TransientError("x", maybe_queued=True), "may still carry it out"),
        (AppleRequestError("Bad thing", error_number=9799), "Bad thing (error 9799)"),
        (ClaimedElsewhereError(MdmInfo(id="a", name="Acme MDM")), "(Acme MDM)"),
        (EventFailure(error_number=9709, message="Not enough licenses."), "not enough licenses"),
    ],
)
def test_plain_message_explains_every_family(error, words):
    assert words in plain_message(error)


def test_errors_survive_pickling_with_their_details(rsps, once):
    error = raised_by(once, rsps, json=apple_error(9646), status=429, headers={"Retry-After": "12"})

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimitedError
    assert (copy.http_status, copy.error_number, copy.retry_after) == (429, 9646, 12.0)
    assert str(copy) == str(error)


def test_claimed_elsewhere_survives_pickling():
    error = ClaimedElsewhereError(MdmInfo(id="a", name="Acme MDM"))

    assert pickle.loads(pickle.dumps(error)).mdm_info.name == "Acme MDM"


def test_token_is_absent_from_client_and_paged_reprs(api):
    assert TOKEN not in repr(api)
    assert TOKEN not in repr(vars(api))
    assert TOKEN not in repr(vars(api._transport))
    assert TOKEN not in repr(api.assets())


def test_token_echoed_by_apple_is_redacted_from_the_error(rsps, once):
    body = {"errorNumber": 9622, "errorMessage": f"Invalid token {TOKEN}"}

    error = raised_by(once, rsps, json=body, status=401)

    assert "<redacted>" in error.message


def test_token_is_absent_from_network_error_tracebacks(rsps, once):
    # requests errors hold the prepared request (and its Authorization header): never chained.
    failure = requests.ConnectionError(f"dropped while sending {TOKEN}")
    error = raised_by(once, rsps, body=failure)

    text = "".join(traceback.format_exception(error))
    assert TOKEN not in text
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_token_is_absent_from_every_error_family(rsps, make_client):
    responses_to_try = [
        {"json": apple_error(n), "status": s}
        for n, s in [(9601, 401), (9621, 401), (9625, 401), (9634, 410), (9602, 400)]
    ] + [
        {"json": apple_error(9646), "status": 429, "headers": {"Retry-After": "1"}},
        {"json": apple_error(9603), "status": 500},
        {"body": requests.ReadTimeout("timed out")},
        {"body": "not json", "status": 200},
        {"json": load("client_config_other_mdm.json")},
    ]
    for response in responses_to_try:
        rsps.reset()
        error = raised_by(make_client(max_attempts=2), rsps, **response)
        # capture_locals: what `pytest -l` or an error tracker shows of every frame's variables.
        with_locals = traceback.TracebackException.from_exception(error, capture_locals=True)
        shown = str(error) + repr(error) + "".join(with_locals.format())
        assert TOKEN not in shown + plain_message(error)
