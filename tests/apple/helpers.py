"""Shared constants and helpers for the Apple client tests."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apple"

# A realistic .vpptoken file body: Base64 of {"token", "expDate", "orgName"}.
TOKEN = (
    "eyJ0b2tlbiI6ICJWRzlyWlc1R2IzSlRhR1ZzWm10bFpYQmxjbFJsYzNSelQyNXNlUT09IiwgImV4cERhdGUiOiAi"
    "MjAzMC0xMS0wOFQyMjozMzoyMiswMDAwIiwgIm9yZ05hbWUiOiAiTGFrZXNpZGUgU2Nob29sIERpc3RyaWN0In0="
)
BASE = "https://vpp.test/mdm/v2"
LOOKUP = "https://store.test/lookup"
OUR_MDM_ID = "shelfkeeper-7f3c2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@cache
def _read(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def load(name: str, **changes: Any) -> Any:
    """A fresh copy of a fixture, with top-level keys replaced (None removes a key)."""
    data = copy.deepcopy(_read(name))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def apple_error(number: int) -> dict[str, Any]:
    """Apple's ErrorResponse body for an error number (from errors.json)."""
    return load("errors.json")[str(number)]


def service_config(**limits: int) -> dict[str, Any]:
    """The service config fixture with some limits replaced (camelCase keys)."""
    data = load("service_config.json")
    data["limits"].update(limits)
    return data


class FakeClock:
    """Monotonic clock, wall clock and sleep that only move when the code under test sleeps."""

    WALL_START = 1_700_000_000.0

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.WALL_START + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
