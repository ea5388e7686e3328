"""What the sync app does when the desired state changes elsewhere."""

from __future__ import annotations

from django.db import transaction


def reconcile_later(*, token_ids) -> None:
    """Queue the license reconciler for each token once the current transaction commits."""
    from sync.tasks import reconcile_token

    for token_id in sorted(set(token_ids)):
        transaction.on_commit(lambda token_id=token_id: reconcile_token.delay(token_id))


def on_licenses_wanted_changed(sender, token_ids, **kwargs) -> None:
    """An assignment or a group's members changed (assignments.signals)."""
    reconcile_later(token_ids=token_ids)
