"""Settings for a worker process a test starts (`manage.py vpp_sync`, `vpp_reconcile`).

The test settings, pointed at that test's own simulator: its endpoints come under names of
their own, so no VPP_* variable in the developer's shell can send the worker elsewhere.
"""

import os

from config.settings_test import *  # noqa: F403

VPP_SERVICE_URL = os.environ["TEST_WORKER_VPP_SERVICE_URL"]
VPP_STORE_LOOKUP_URL = os.environ["TEST_WORKER_VPP_STORE_LOOKUP_URL"]
