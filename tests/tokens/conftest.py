from __future__ import annotations

import pytest

from apple.client import clear_service_config_cache


@pytest.fixture
def apple(simulator, settings):
    """The portal pointed at a fresh simulator."""
    settings.VPP_SERVICE_URL = simulator.api_url
    settings.VPP_STORE_LOOKUP_URL = simulator.lookup_url
    clear_service_config_cache()
    yield simulator
    clear_service_config_cache()


@pytest.fixture
def token_file(apple):
    """Issue a token file for a location of the simulator: bytes as uploaded."""

    def _issue(location: str = "Main Library", org: str = "Springfield Schools", **kwargs) -> bytes:
        return apple.issue_token(org=org, location=location, **kwargs).encode()

    return _issue
