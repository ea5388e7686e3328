from __future__ import annotations

import pytest

from assignments.signals import licenses_wanted_changed


@pytest.fixture
def wanted_changes():
    """Every licenses_wanted_changed signal sent during the test, as its token_ids lists."""
    calls: list[list[int]] = []

    def receiver(sender, token_ids, **kwargs):
        calls.append(token_ids)

    licenses_wanted_changed.connect(receiver, dispatch_uid="test-wanted-changes")
    yield calls
    licenses_wanted_changed.disconnect(dispatch_uid="test-wanted-changes")
