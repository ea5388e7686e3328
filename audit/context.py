"""The request being served, for audit entries recorded where no request is at hand."""

from __future__ import annotations

from contextvars import ContextVar

current_request: ContextVar = ContextVar("shelfkeeper_audit_request", default=None)


class AuditContextMiddleware:
    """Remember the request for the duration of the view (signals read it)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        marker = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(marker)
