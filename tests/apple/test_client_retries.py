"""Retries: back-off with jitter, Retry-After, bounded attempts and wait, and safe writes."""

from __future__ import annotations

from email.utils import formatdate

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from apple import (
    AssetKey,
    NewUser,
    RateLimitedError,
    TokenExpiredError,
    TransientError,
)
from apple.retry import parse_retry_after
from tests.apple.helpers import BASE, FakeClock, apple_error, load

pytestmark = pytest.mark.usefixtures("token_never_logged")

BOOK = [AssetKey("1462937447", "STDQ")]


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left this machine."""
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(MaxRetryError(None, f"{BASE}/x", reason))


def dropped() -> requests.ConnectionError:
    """What requests raises when the connection dies after the request was sent."""
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))


@pytest.fixture
def config(rsps):
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))


@pytest.fixture
def ready(rsps, with_service_config, config, api):
    """Limits cached and our claim confirmed, so tests see only the write under test."""
    api.service_config()
    api.client_config()
    rsps.calls.reset()


def calls_to(rsps, path: str) -> int:
    return sum(1 for c in rsps.calls if c.request.url.split("?")[0] == f"{BASE}{path}")


# --- reads -------------------------------------------------------------------------------


def test_transient_read_is_retried_until_it_succeeds(rsps, api, clock):
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)
    rsps.get(f"{BASE}/client/config", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    assert api.client_config().location_name == "Lakeside High School"
    assert calls_to(rsps, "/client/config") == 3
    assert len(clock.sleeps) == 2


def test_backoff_grows_exponentially_with_jitter(rsps, make_client, clock):
    rolls = iter([0.0, 1.0, 0.5, 0.0])
    api = make_client(rng=lambda: next(rolls), max_attempts=5)
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)

    with pytest.raises(TransientError):
        api.client_config()

    # 1, 2, 4, 8 s, each scaled by 0.5 + rng / 2.
    assert clock.sleeps == [0.5, 2.0, 3.0, 4.0]


def test_rate_limited_read_honours_retry_after_in_seconds(rsps, api, clock):
    rsps.get(
        f"{BASE}/client/config",
        json=apple_error(9646),
        status=429,
        headers={"Retry-After": "7"},
    )
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    api.client_config()

    assert clock.sleeps == [7.0]


def test_retry_after_as_http_date_is_honoured(rsps, api, clock):
    when = formatdate(clock.wall() + 42, usegmt=True)
    rsps.get(
        f"{BASE}/client/config",
        json=apple_error(9603),
        status=503,
        headers={"Retry-After": when},
    )
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    api.client_config()

    assert clock.sleeps == [42.0]


def test_rate_limit_without_retry_after_backs_off(rsps, api, clock):
    rsps.get(f"{BASE}/client/config", json=apple_error(9646), status=200)
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    api.client_config()

    assert clock.sleeps == [0.75]  # first back-off: 1 s x (0.5 + 0.5 / 2)


def test_retries_stop_after_max_attempts(rsps, make_client, clock):
    api = make_client(max_attempts=3)
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)

    with pytest.raises(TransientError):
        api.client_config()

    assert api.request_count == 3
    assert len(clock.sleeps) == 2


def test_gives_up_at_once_when_retry_after_exceeds_the_wait_budget(rsps, make_client, clock):
    api = make_client(max_total_wait=60.0)
    rsps.get(
        f"{BASE}/client/config",
        json=apple_error(9646),
        status=429,
        headers={"Retry-After": "120"},
    )

    with pytest.raises(RateLimitedError) as caught:
        api.client_config()

    assert caught.value.retry_after == 120.0
    assert api.request_count == 1
    assert clock.sleeps == []


def test_total_wait_stays_within_the_budget(rsps, make_client, clock):
    api = make_client(max_attempts=50, max_total_wait=20.0)
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)

    with pytest.raises(TransientError):
        api.client_config()

    # 0.75 + 1.5 + 3 + 6 = 11.25 s; the next 12 s back-off would pass 20 s, so it stops.
    assert clock.sleeps == [0.75, 1.5, 3.0, 6.0]
    assert api.request_count == 5


def test_time_spent_waiting_for_answers_counts_against_the_budget(rsps, make_client, clock):
    api = make_client(max_attempts=50, max_total_wait=20.0)

    def slow_failure(request):
        clock.advance(9.0)  # each attempt takes 9 s before Apple answers 500
        return 500, {}, '{"errorNumber": 9603, "errorMessage": "Internal error"}'

    rsps.add_callback("GET", f"{BASE}/client/config", callback=slow_failure)

    with pytest.raises(TransientError):
        api.client_config()

    assert api.request_count == 2


@pytest.mark.parametrize(
    ("number", "status"),
    [(9621, 401), (9625, 401), (9634, 410), (9602, 400), (9650, 400)],
)
def test_permanent_and_request_errors_are_not_retried(rsps, api, clock, number, status):
    rsps.get(f"{BASE}/client/config", json=apple_error(number), status=status)

    with pytest.raises(Exception) as caught:
        api.client_config()

    assert caught.value.error_number == number
    assert api.request_count == 1
    assert clock.sleeps == []


def test_retries_are_logged_without_the_token(rsps, api, caplog):
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    api.client_config()

    (record,) = [r for r in caplog.records if r.name.startswith("apple.")]
    assert "retry 1 of 4" in record.getMessage()
    assert "/client/config" in record.getMessage()


# --- writes ------------------------------------------------------------------------------


def test_write_is_not_retried_after_read_timeout(rsps, api, clock, ready):
    rsps.post(f"{BASE}/users/create", body=requests.ReadTimeout("read timed out"))
    rsps.post(f"{BASE}/users/create", json=load("event_response.json"))

    with pytest.raises(TransientError) as caught:
        api.create_users([NewUser(client_user_id="u-1")])

    assert caught.value.maybe_queued is True
    assert calls_to(rsps, "/users/create") == 1
    assert clock.sleeps == []


def test_write_is_not_retried_after_the_connection_dropped(rsps, api, ready):
    rsps.post(f"{BASE}/assets/associate", body=dropped())
    rsps.post(f"{BASE}/assets/associate", json=load("event_response.json"))

    with pytest.raises(TransientError) as caught:
        api.associate(assets=BOOK, client_user_ids=["u-1"])

    assert caught.value.maybe_queued is True
    assert calls_to(rsps, "/assets/associate") == 1


def test_write_is_not_retried_after_a_gateway_timeout(rsps, api, ready):
    rsps.post(f"{BASE}/assets/associate", body="Gateway Timeout", status=504)

    with pytest.raises(TransientError) as caught:
        api.associate(assets=BOOK, client_user_ids=["u-1"])

    assert caught.value.maybe_queued is True
    assert calls_to(rsps, "/assets/associate") == 1


def test_write_with_unreadable_success_body_is_not_retried(rsps, api, ready):
    rsps.post(f"{BASE}/users/retire", body="<html>ok</html>", status=200)

    with pytest.raises(TransientError) as caught:
        api.retire_users(["u-1"])

    assert caught.value.maybe_queued is True
    assert calls_to(rsps, "/users/retire") == 1


@pytest.mark.parametrize(
    "failure",
    [refused(), requests.ConnectTimeout("connect timed out")],
    ids=["connection-refused", "connect-timeout"],
)
def test_write_is_retried_after_a_connect_error(rsps, api, clock, ready, failure):
    rsps.post(f"{BASE}/users/create", body=failure)
    rsps.post(f"{BASE}/users/create", json=load("event_response.json"))

    (event,) = api.create_users([NewUser(client_user_id="u-1")])

    assert event.event_id
    assert calls_to(rsps, "/users/create") == 2
    assert len(clock.sleeps) == 1


def test_write_is_retried_after_429(rsps, api, clock, ready):
    rsps.post(
        f"{BASE}/assets/associate",
        json=apple_error(9646),
        status=429,
        headers={"Retry-After": "5"},
    )
    rsps.post(f"{BASE}/assets/associate", json=load("event_response.json"))

    events = api.associate(assets=BOOK, client_user_ids=["u-1"])

    assert len(events) == 1
    assert calls_to(rsps, "/assets/associate") == 2
    assert clock.sleeps == [5.0]


def test_write_is_retried_after_a_5xx_error_body(rsps, api, ready):
    rsps.post(f"{BASE}/users/update", json=apple_error(9603), status=500)
    rsps.post(f"{BASE}/users/update", json=apple_error(9603), status=200)
    rsps.post(f"{BASE}/users/update", json=load("event_response.json"))

    events = api.update_users([NewUser(client_user_id="u-1", email="a@b.example")])

    assert len(events) == 1
    assert calls_to(rsps, "/users/update") == 3


def test_write_rejected_by_apple_is_not_retried(rsps, api, ready):
    rsps.post(f"{BASE}/users/create", json=apple_error(9621), status=401)

    with pytest.raises(TokenExpiredError):
        api.create_users([NewUser(client_user_id="u-1")])

    assert calls_to(rsps, "/users/create") == 1


def test_request_count_includes_retries(rsps, api):
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)
    rsps.get(f"{BASE}/client/config", json=apple_error(9603), status=500)
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))

    api.client_config()

    assert api.request_count == 3


# --- Retry-After parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("-5", 0.0),
        (formatdate(FakeClock.WALL_START + 90, usegmt=True), 90.0),
        (formatdate(FakeClock.WALL_START - 90, usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(header, expected):
    assert parse_retry_after(header, now=FakeClock.WALL_START) == expected
