"""Project-level views."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

from config.health import health_report
from config.roles import ROLES, declared_permissions


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


# What an admin URL's last word asks of the user: Django's add/change/delete/view permissions.
_URL_ACTIONS = {"add": "add", "change": "change", "delete": "delete", "changelist": "view"}


def roles_needed(request) -> list[str]:
    """The roles whose permissions include the one this admin page needs ([] when unknown)."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return []
    # Admin pages live under <app_label>/<model_name>/: the model the page belongs to.
    parts = request.path_info.removeprefix("/admin/").split("/")
    opts = next(
        (
            model._meta
            for model in admin.site._registry
            if parts[:2] == [model._meta.app_label, model._meta.model_name]
        ),
        None,
    )
    if opts is None:
        return []
    suffix = (match.url_name or "").removeprefix(f"{opts.app_label}_{opts.model_name}_")
    wanted = (opts.app_label, f"{_URL_ACTIONS.get(suffix, 'change')}_{opts.model_name}")
    return [role for role, held in declared_permissions().items() if wanted in held]


@requires_csrf_token
def permission_denied(request, exception=None):
    """The portal's 403 page: what was refused and which role allows it, in the portal's look."""
    roles = roles_needed(request)
    yours = request.user.groups.filter(name__in=ROLES) if request.user.is_authenticated else []
    context = {
        **admin.site.each_context(request),
        "title": "You do not have access to this page",
        "roles_needed": roles,
        "your_roles": [group.name for group in yours],
    }
    return TemplateResponse(request, "403.html", context, status=403).render()


def favicon(request):
    """Browsers ask for /favicon.ico on pages without a <link rel=icon> (JSON, files)."""
    return HttpResponsePermanentRedirect(static("img/shelfkeeper.svg"))
