from __future__ import annotations

import pytest

from assignments.models import AppleUser, License
from ebooks.models import EBook
from sync.models import SyncRun
from sync.services import sync_request, sync_run_execute


@pytest.fixture
def sync_now():
    """Run a sync of a token in the foreground, as `vpp_sync` does."""

    def _sync(token, *, full: bool = False) -> SyncRun:
        request = sync_request(
            token=token, trigger=SyncRun.Trigger.COMMAND, full=full, enqueue=False
        )
        assert request.created
        return sync_run_execute(run_id=request.run.pk)

    return _sync


def snapshot(token) -> dict:
    """What a sync leaves in the database for a token, comparable between runs."""
    return {
        "books": sorted(
            EBook.objects.filter(token=token).values_list(
                "adam_id",
                "pricing_param",
                "title",
                "total_count",
                "assigned_count",
                "available_count",
                "retired_count",
                "unlimited",
                "gone_at",
            )
        ),
        "users": sorted(
            AppleUser.objects.filter(token=token)
            .exclude(status=AppleUser.Status.RETIRED)
            .values_list("client_user_id", "status", "email", "invite_code", "id_hash")
        ),
        "licenses": sorted(
            License.objects.filter(token=token).values_list(
                "ebook__adam_id", "ebook__pricing_param", "apple_user__client_user_id", "state"
            )
        ),
    }


from tests.sync.reconcile_driver import reconciler  # noqa: E402, F401 - a fixture for these tests
