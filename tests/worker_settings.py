"""Settings for a worker process a kill test starts: the test settings, pointed at the test's
own simulator (config.settings_test drops the VPP_* endpoints a developer's shell exports)."""

import os

from config.settings_test import *  # noqa: F403

VPP_SERVICE_URL = os.environ["TEST_WORKER_VPP_SERVICE_URL"]
VPP_STORE_LOOKUP_URL = os.environ["TEST_WORKER_VPP_STORE_LOOKUP_URL"]
