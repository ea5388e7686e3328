"""Project-level views."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.health import health_report


@never_cache
@require_GET
def healthz(request):
    """Health of database, broker, worker and beat; 503 when any part is down.

    The one anonymous endpoint: load balancers and supervisors call it. It shows which part
    answers, never data or connection strings.
    """
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
