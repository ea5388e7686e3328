"""System checks: a malformed API_RATE_LIMIT is reported at start-up with how to fix it."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.checks import Error, register

RATE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


@register()
def api_rate_limit_check(app_configs, **kwargs) -> list[Error]:
    """API_RATE_LIMIT must read "<requests>/<period>"."""
    rate = getattr(settings, "API_RATE_LIMIT", "600/min")
    if RATE.match(rate or ""):
        return []
    return [
        Error(
            f"API_RATE_LIMIT “{rate}” is not a rate.",
            hint="Write it as requests/period, e.g. 600/min, 20/second, 5000/hour or 50000/day.",
            id="api.E001",
        )
    ]
