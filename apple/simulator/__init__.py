"""A local simulator of Apple's App and Book Management API v2 and the store look-up.

Plain library: standard library only, nothing from Django or the project's apps, and nothing
from `apple.client` (it speaks the JSON of APPLE_API.md, so it cross-checks the client).
"""

from __future__ import annotations

from apple.simulator.simulator import Simulator

__all__ = ["Simulator"]
