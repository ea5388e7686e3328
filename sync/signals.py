"""What the sync app does when the desired state changes elsewhere."""

from __future__ import annotations

from django.db import transaction


def reconcile_later(*, token_ids, trigger: str = "sync") -> None:
    """Mark the tokens changed and queue a reconcile run of each once the transaction commits."""
    from sync.reconcile.runs import reconcile_changed_mark
    from sync.tasks import reconcile_token

    token_ids = sorted(set(token_ids))
    reconcile_changed_mark(token_ids=token_ids)
    args = () if trigger == "sync" else (trigger,)  # the task's default trigger is "sync"
    for token_id in token_ids:
        transaction.on_commit(lambda token_id=token_id: reconcile_token.delay(token_id, *args))


def on_licenses_wanted_changed(sender, token_ids, trigger: str = "assignment", **kwargs) -> None:
    """An assignment or a group's members changed (assignments.signals); senders may name
    the trigger (assignment / membership)."""
    reconcile_later(token_ids=token_ids, trigger=trigger)
