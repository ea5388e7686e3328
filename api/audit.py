"""Auditing API actions: the audit log where it has the action, a signal, and a log line."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AnonymousUser
from django.dispatch import Signal

from audit.services import audit_record

logger = logging.getLogger("shelfkeeper.api.actions")

# API action → the audit log's action (actions it has no kind for are logged and signalled).
AUDITED = {
    "token.sync": "sync_now",
    "token.renew": "token_renew",
    "assignment.create": "assignment_create",
    "assignment.update": "assignment_edit",
    "assignment.delete": "assignment_delete",
    "people.upsert": "directory_import",
    "groups.upsert": "directory_import",
    "memberships.change": "directory_import",
}

# Sent after an API action that changes something: sender="api", actor (a portal user or None),
# api_key (ApiKey or None), action ("assignment.create", ...), target (a model instance or None),
# detail (a short plain text, never a secret).
api_action_performed = Signal()


def api_action_record(*, request, action: str, target=None, detail: str = "") -> None:
    """Record an API action in the audit log (when it has the kind), the log and the signal."""
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
    if action in AUDITED:
        audit_record(
            action=AUDITED[action],
            request=request,
            target=target,
            # A key is no portal account: recorded by name, with no user behind it.
            actor=AnonymousUser() if api_key else actor,
            actor_name=f"API key {api_key.prefix}… ({api_key.name})" if api_key else "",
            detail={"via": "api", "api_action": action, **({"note": detail} if detail else {})},
        )
    api_action_performed.send(
        sender="api", actor=actor, api_key=api_key, action=action, target=target, detail=detail
    )
