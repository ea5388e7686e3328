"""Errors as RFC 9457 problem details (application/problem+json) with a plain message."""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://shelfkeeper.invalid/problems/"


class ApiProblem(exceptions.APIException):
    """A refusal with its own problem type (e.g. a stale preview count)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be carried out."
    default_code = "unprocessable"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}


_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Cannot be carried out",
    429: "Too many requests",
}


def _flatten(detail, prefix: str = "") -> list[str]:
    """DRF's nested error detail as "field: message" lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            lines += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return lines
    if isinstance(detail, list):
        lines = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            lines += _flatten(value, f"{prefix}[{index}]" if nested else prefix)
        return lines
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def problem_exception_handler(exc, context):
    """Turn every error into a problem document; Django's ValidationError is a 422."""
    # Imported here: rest_framework.views imports the authentication classes, which import us.
    from rest_framework.views import exception_handler

    if isinstance(exc, DjangoValidationError):
        exc = ApiProblem("; ".join(exc.messages), code="rule")
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound("No such object, or it is not visible to you.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    code = response.status_code
    body = {
        "type": TYPE_BASE + (_code_of(exc) or str(code)),
        "title": _TITLES.get(code, "Error"),
        "status": code,
        "detail": " ".join(_flatten(exc.detail)) if hasattr(exc, "detail") else str(exc),
    }
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict | list):
        body["errors"] = _flatten(exc.detail)
    if isinstance(exc, ApiProblem):
        body.update(exc.extra)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _code_of(exc) -> str | None:
    codes = exc.get_codes() if hasattr(exc, "get_codes") else None
    if isinstance(codes, str):
        return codes.replace("_", "-")
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    return None
