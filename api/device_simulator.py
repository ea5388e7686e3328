"""The device side of the device-management channel, for demos: plays iPads against /api/v1/.

Each step reads the installs the portal wants, moves every device's books one stage along
(Queued → Installing → Installed, or Failed with one of Apple's reasons) and reports each
device's managed media, as an MDM server relaying ManagedMediaList would.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

FAILURE_REASONS = ("PurchaseNotFound", "DownloadInvalid", "CouldNotVerifyITunesStoreID")
STAGES = ("Queued", "Installing")

# (method, path relative to /api/v1/, JSON body or None) → (status, JSON answer)
Transport = Callable[[str, str, dict | None], tuple[int, dict]]


def http_transport(*, base_url: str, key: str, timeout: float = 10) -> Transport:
    """Talk to a running portal over HTTP with a device-channel key."""

    def call(method: str, path: str, body: dict | None) -> tuple[int, dict]:
        url = path if path.startswith("http") else f"{base_url.rstrip('/')}/{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the portal's own URL, http(s) only
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    return call


@dataclass
class DeviceSimulator:
    transport: Transport
    failure_rate: float = 0.15
    rng: random.Random = field(default_factory=random.Random)
    # serial → adamId → Apple state last reported
    books: dict[str, dict[str, str]] = field(default_factory=dict)
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def step(self) -> dict[str, int]:
        """One round: pick up new installs, move each one stage on, report every device."""
        for request in self._pending():
            self.books.setdefault(request["serial_number"], {}).setdefault(request["adam_id"], "")
        counts = {"reported": 0, "installed": 0, "failed": 0, "refused": 0}
        for serial, books in self.books.items():
            moved = False
            for adam_id, state in books.items():
                new = self._next(serial, adam_id, state)
                if new != state:
                    books[adam_id], moved = new, True
            if not moved:
                continue
            status, _ = self.transport(
                "POST", f"device-channel/devices/{serial}/managed-media/", self._report(serial)
            )
            counts["reported" if status == 200 else "refused"] += 1
        for books in self.books.values():
            counts["installed"] += sum(s == "Installed" for s in books.values())
            counts["failed"] += sum(s == "Failed" for s in books.values())
        return counts

    def _pending(self) -> list[dict]:
        found, path = [], "device-channel/install-requests/?page_size=500"
        while path:
            status, page = self.transport("GET", path, None)
            if status != 200:
                return found
            found += page["results"]
            path = page.get("next")
        return found

    def _next(self, serial: str, adam_id: str, state: str) -> str:
        if state in ("Installed", "Failed"):
            return state
        if state == "":
            return "Queued"
        if state == "Queued":
            return "Installing"
        if self.rng.random() < self.failure_rate:
            self.reasons[(serial, adam_id)] = self.rng.choice(FAILURE_REASONS)
            return "Failed"
        return "Installed"

    def _report(self, serial: str) -> dict:
        books = []
        for adam_id, state in self.books[serial].items():
            item = {"adam_id": adam_id, "state": state}
            if state == "Failed":
                item["rejection_reason"] = self.reasons[(serial, adam_id)]
            books.append(item)
        return {"books": books}
