"""Hooks into other apps' events, so they need not know this app exists."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save

from tokens.models import VppToken

logger = logging.getLogger(__name__)


def _on_token_saved(sender, instance: VppToken, update_fields=None, **kwargs) -> None:
    # tokens.services.token_sync_result_record saves last_sync_at at the end of every sync.
    # The snapshot and stock check run in their own task once the sync has committed: at
    # district scale they took seconds the sync (and whoever waits on it) should not wait for.
    if update_fields and "last_sync_at" in update_fields:
        token_id = instance.pk
        transaction.on_commit(lambda: after_sync_queue(token_id=token_id), robust=True)


def after_sync_queue(*, token_id: int) -> None:
    """Queue the after-sync record; a broker that is down costs only today's early snapshot."""
    from reports.tasks import after_sync_record

    try:
        after_sync_record.delay(token_id)
    except Exception as error:  # kombu's OperationalError, socket errors, a broker timeout
        # The daily beat task writes every token's snapshot and checks every book's stock.
        logger.warning(
            "Snapshot after the sync of token %s not queued (%s): the daily task catches up",
            token_id,
            type(error).__name__,
        )


def connect() -> None:
    post_save.connect(_on_token_saved, sender=VppToken, dispatch_uid="reports-after-sync")
