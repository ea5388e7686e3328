"""Notifications the simulator posts to a location's registered URL, as Apple does (§2.8).

Delivery is best effort: up to three tries, a duplicate now and then when asked for, and
ASSET_MANAGEMENT in batches of 100 assignments. Tests may turn delivery off and read `sent`.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import urllib.error
import urllib.request
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apple.simulator.simulator import Simulator
    from apple.simulator.store import Location

BATCH = 100
TRIES = 3


class Notifier:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.deliver = True  # False: notifications are only kept in `sent` (tests)
        self.duplicates = 0.0  # chance that a delivered notification is posted again
        self.retry_wait = 0.5
        self.sent: deque[dict[str, Any]] = deque(maxlen=100_000)
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue = queue.Queue()
        self.rng = random.Random()  # noqa: S311 - not crypto

    # --- what Apple notifies about ------------------------------------------------------------

    def emit(self, loc: Location, kind: str, notification: dict[str, Any]) -> None:
        """Queue one notification for the location's URL (if any, and if subscribed)."""
        url, secret = loc.settings.get("notificationUrl"), loc.settings.get("notificationAuthToken")
        subscribed = loc.settings.get("subscribedNotificationTypes") or []
        if not url or (kind != "TEST_NOTIFICATION" and kind not in subscribed):
            return
        envelope = {
            "notificationId": str(uuid.uuid4()),
            "notificationType": kind,
            "notification": notification,
            "uId": loc.uid,
        }
        self.sent.append(envelope)
        if self.deliver:
            self._queue.put((url, secret, envelope))

    def event_applied(self, loc: Location, event: dict[str, Any], done: list) -> None:
        """An asynchronous write finished: its outcome, as Apple reports it."""
        kind, event_id = event["eventType"], event["eventId"]
        if kind in ("ASSOCIATE", "DISASSOCIATE", "REVOKE"):
            by_asset: dict[tuple[str, str], list[dict[str, str]]] = {}
            for adam_id, pricing, cuid in done:
                by_asset.setdefault((adam_id, pricing), []).append(
                    {"adamId": adam_id, "pricingParam": pricing, "clientUserId": cuid}
                )
            for rows in by_asset.values():
                for start in range(0, len(rows), BATCH):
                    self.emit(
                        loc,
                        "ASSET_MANAGEMENT",
                        {
                            "eventId": event_id,
                            "type": kind,
                            "result": "SUCCESS",
                            "assignments": rows[start : start + BATCH],
                        },
                    )
            for failure in event.get("failures") or []:
                self.emit(
                    loc,
                    "ASSET_MANAGEMENT",
                    {
                        "eventId": event_id,
                        "type": kind,
                        "result": "FAILURE",
                        "assignments": [],
                        "error": failure,
                    },
                )
        elif kind in ("CREATE", "UPDATE", "RETIRE"):
            users = [loc.users.as_json(loc.users.active[c]) for c in done if c in loc.users.active]
            for start in range(0, max(len(users), 1), BATCH):
                self.emit(
                    loc,
                    "USER_MANAGEMENT",
                    {
                        "eventId": event_id,
                        "type": kind,
                        "result": "FAILURE" if event.get("failures") else "SUCCESS",
                        "users": users[start : start + BATCH],
                    },
                )

    # --- delivery -----------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Deliver queued notifications until the simulator stops."""
        while not stopping.is_set():
            try:
                url, secret, envelope = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            copies = 2 if self.rng.random() < self.duplicates else 1
            for _ in range(copies):
                self._post(url, secret, envelope, stopping)

    def _post(self, url: str, secret: str, envelope: dict, stopping: threading.Event) -> None:
        data = json.dumps(envelope).encode()
        for attempt in range(TRIES):
            request = urllib.request.Request(  # noqa: S310 - a URL the portal registered
                url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        return
            except (urllib.error.URLError, OSError):
                pass
            if stopping.wait(self.retry_wait * (attempt + 1)):
                return
        self.failed += 1
