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
    answers, never data or connection strings; `?detail=1` adds reasons and timings for a
    signed-in staff member.
    """
    user = request.user
    detail = request.GET.get("detail") == "1" and user.is_active and user.is_staff
    report = health_report(detail=detail)
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
