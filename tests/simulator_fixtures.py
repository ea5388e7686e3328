"""Pytest plugin: a fresh Apple simulator on a free loopback port (register via pytest_plugins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from apple.simulator import Simulator


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A simulator with the demo catalogue, fresh state, no event delay; stopped afterwards."""
    sim = Simulator(page_size=1000, event_delay=0.0)
    sim.start(port=0)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim_token(simulator: Simulator) -> str:
    """A valid `.vpptoken` file content issued by the `simulator` fixture."""
    return simulator.issue_token(org="Shelfkeeper Test Org", location="Test Location")


class SimHttp:
    """Thin `requests` helper for simulator tests: v2 paths relative to /mdm/v2, token attached."""

    def __init__(self, sim: Simulator, token: str) -> None:
        self.sim = sim
        self.token = token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET /mdm/v2/<path>?params."""
        return self.session.get(f"{self.sim.api_url}/{path}", params=params, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        """POST /mdm/v2/<path> with a JSON body."""
        return self.session.post(f"{self.sim.api_url}/{path}", json=body, timeout=10)

    def status(self, event_id: str) -> dict[str, Any]:
        """Event Status body."""
        return self.get("status", eventId=event_id).json()

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        """A /_sim/ control request (no token)."""
        return requests.request(method, f"{self.sim.url}/_sim/{path}", json=body, timeout=10)


@pytest.fixture
def sim_http(simulator: Simulator, sim_token: str) -> Iterator[SimHttp]:
    """`SimHttp` for the `simulator` fixture and `sim_token`."""
    http = SimHttp(simulator, sim_token)
    yield http
    http.session.close()
