"""Writing audit entries. Callers pass no secrets in detail: names, ids and counts only."""

from __future__ import annotations

import logging

from axes.helpers import get_client_ip_address
from django.db import models

from audit.context import current_request
from audit.models import AuditEntry

logger = logging.getLogger(__name__)
Action = AuditEntry.Action
Outcome = AuditEntry.Outcome


def audit_record(
    *,
    action: str,
    request=None,
    target: models.Model | None = None,
    outcome: str = Outcome.OK,
    detail: dict | None = None,
    actor=None,
    actor_name: str = "",
) -> AuditEntry | None:
    """Record one action; never lets a failure to record break the action itself."""
    request = request if request is not None else current_request.get()
    user = actor if actor is not None else getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    try:
        return AuditEntry.objects.create(
            action=action,
            outcome=outcome,
            actor=user,
            actor_name=(actor_name or (user.get_username() if user else ""))[:150],
            target_type=target._meta.label if target is not None else "",
            target_id=str(target.pk) if target is not None and target.pk is not None else "",
            target_repr=str(target)[:300] if target is not None else "",
            ip_address=_ip(request),
            detail=detail or {},
        )
    except Exception:
        # The audit log must not turn a done action into an error page; the log line remains.
        logger.exception("Could not record audit entry %s", action)
        return None


def _ip(request) -> str | None:
    if request is None:
        return None
    try:
        return get_client_ip_address(request) or None
    except Exception:
        return None
