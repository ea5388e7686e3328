"""The hook for auditing API actions: a signal the audit app can connect to, and a log line."""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger("shelfkeeper.api.actions")

# Sent after an API action that changes something: sender="api", actor (a portal user or None),
# api_key (ApiKey or None), action ("assignment.create", ...), target (a model instance or None),
# detail (a short plain text, never a secret).
api_action_performed = Signal()


def api_action_record(*, request, action: str, target=None, detail: str = "") -> None:
    """Log an API action and tell whoever audits (the audit app, once it connects)."""
    from api.models import ApiKey

    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    actor = None if api_key is not None else request.user
    logger.info(
        "API %s on %s by %s%s",
        action,
        f"{type(target).__name__} {target.pk}" if target is not None else "-",
        f"key {api_key.prefix}" if api_key else f"user {getattr(actor, 'pk', None)}",
        f": {detail}" if detail else "",
    )
    api_action_performed.send(
        sender="api", actor=actor, api_key=api_key, action=action, target=target, detail=detail
    )
