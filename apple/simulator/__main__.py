"""`python -m apple.simulator`."""

from __future__ import annotations

import sys

from apple.simulator.cli import main

sys.exit(main())
