"""Settings for a worker process a test starts against its own simulator.

config.settings_test drops the simulator endpoints the Makefile exports for `make run`; a test
that launches `manage.py` passes its simulator's endpoints under these names instead.
"""

import os

from config.settings_test import *  # noqa: F403

VPP_SERVICE_URL = os.environ["TEST_WORKER_VPP_SERVICE_URL"]
VPP_STORE_LOOKUP_URL = os.environ["TEST_WORKER_VPP_STORE_LOOKUP_URL"]
