"""Fixtures for the Apple client tests: mocked HTTP, a fake clock, and a token-leak guard.

The simulator's tests share this folder, so the guard is opted into by the client test
modules (`pytestmark`) rather than being autouse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from apple.client import AppleClient, clear_service_config_cache
from tests.apple.helpers import BASE, LOOKUP, OUR_MDM_ID, TOKEN, FakeClock, load


@pytest.fixture(autouse=True)
def _fresh_service_config_cache() -> Iterator[None]:
    """The service config cache is module-wide; no test may see another's."""
    clear_service_config_cache()
    yield
    clear_service_config_cache()


@pytest.fixture
def token_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The test also checks that nothing it logged, at any level, contains the token."""
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., AppleClient]:
    """Build a client on the fake clock; keyword arguments override the defaults."""

    def make(**overrides: Any) -> AppleClient:
        options: dict[str, Any] = {
            "base_url": BASE,
            "lookup_url": LOOKUP,
            "our_mdm_id": OUR_MDM_ID,
            "sleep": clock.sleep,
            "clock": clock,
            "wall_clock": clock.wall,
            "rng": lambda: 0.5,
        }
        options.update(overrides)
        return AppleClient(TOKEN, **options)

    return make


@pytest.fixture
def api(make_client: Callable[..., AppleClient]) -> AppleClient:
    """The client under test (not named `client`: pytest-django owns that name)."""
    return make_client()


@pytest.fixture
def with_service_config(rsps: responses.RequestsMock) -> None:
    """Apple's example limits (25 assets, 100 users, 1000 clientUserIds/serials)."""
    rsps.get(f"{BASE}/service/config", json=load("service_config.json"))


@pytest.fixture
def with_our_client_config(rsps: responses.RequestsMock) -> None:
    """Client config showing that this installation holds the location."""
    rsps.get(f"{BASE}/client/config", json=load("client_config.json"))
