"""Play the iPads of the demo against the API: installs complete a few seconds after licensing."""

from __future__ import annotations

import os
import random
import time
import urllib.error

from django.core.management.base import BaseCommand

from api.device_simulator import DeviceSimulator, http_transport
from api.services import demo_device_key_issue


class Command(BaseCommand):
    help = (
        "Act as the device-management channel for the demo: report Required books as queued, "
        "installing, then installed (or failed with one of Apple's reasons)."
    )

    def add_arguments(self, parser) -> None:
        port = os.environ.get("WEB_PORT", "8000")
        parser.add_argument("--url", default=f"http://127.0.0.1:{port}/api/v1")
        parser.add_argument(
            "--key",
            default=os.environ.get("SHELFKEEPER_DEVICE_KEY", ""),
            help="a device-channel API key (default: issue a fresh demo key)",
        )
        parser.add_argument("--interval", type=float, default=3.0, help="seconds per step")
        parser.add_argument("--failure-rate", type=float, default=0.15)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--steps", type=int, default=0, help="stop after N steps (0: never)")

    def handle(self, *args, url, key, interval, failure_rate, seed, steps, **options) -> None:
        key = key or demo_device_key_issue()
        simulator = DeviceSimulator(
            transport=http_transport(base_url=url, key=key),
            failure_rate=failure_rate,
            rng=random.Random(seed),  # noqa: S311 - demo randomness, not security
        )
        self.stdout.write(f"Simulating devices against {url} every {interval:g}s.")
        done, last = 0, None
        while not steps or done < steps:
            try:
                counts = simulator.step()
            except (urllib.error.URLError, OSError) as error:
                counts = f"portal not answering yet ({error})"
            except ValueError as error:
                # A page that is not JSON (a proxy's error page): keep going, as a device would.
                counts = f"unexpected answer from the portal ({error})"
            if counts != last:
                self.stdout.write(f"devices: {counts}")
                last = counts
            done += 1
            time.sleep(interval)
