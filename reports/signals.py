"""Hooks into other apps' events, so they need not know this app exists."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save

from tokens.models import VppToken


def _on_token_saved(sender, instance: VppToken, update_fields=None, **kwargs) -> None:
    # tokens.services.token_sync_result_record saves last_sync_at at the end of every sync.
    if update_fields and "last_sync_at" in update_fields:
        from reports.services import after_sync_record

        token_id = instance.pk
        transaction.on_commit(lambda: after_sync_record(token_id=token_id))


def connect() -> None:
    post_save.connect(_on_token_saved, sender=VppToken, dispatch_uid="reports-after-sync")
