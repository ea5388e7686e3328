"""Template hooks putting the read side on pages other apps own, without those apps importing it."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html

from reports import charts, selectors
from reports.exports import EXPORT_COLUMNS

register = template.Library()
DASHBOARD_PERMISSION = "reports.view_dashboard"
EXPORT_PERMISSION = "reports.export_csv"


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", 90))
    except (TypeError, ValueError):
        days = 90
    return days if days in selectors.CHART_PERIODS else 90


@register.simple_tag(takes_context=True)
def export_csv_link(context, cl) -> str:
    """An "Export CSV" button on a changelist, carrying its current filters and search."""
    opts = cl.opts
    key = f"{opts.app_label}.{opts.model_name}"
    if key not in EXPORT_COLUMNS or not context["request"].user.has_perm(EXPORT_PERMISSION):
        return ""
    url = reverse("reports:changelist_export", args=[opts.app_label, opts.model_name])
    return format_html(
        '<li><a href="{}{}" class="portal-export" download>Export CSV</a></li>',
        url,
        cl.get_query_string(remove=["p"]),
    )


@register.inclusion_tag("admin/reports/dashboard.html", takes_context=True)
def home_dashboard(context) -> dict:
    request = context["request"]
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"allowed": False}
    return {
        "allowed": True,
        "board": selectors.dashboard_read(),
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
        "can_see_people": request.user.has_perm("assignments.view_person"),
    }


@register.inclusion_tag("admin/reports/book.html", takes_context=True)
def book_report(context, ebook) -> dict:
    request = context["request"]
    if ebook is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"allowed": False}
    days = _days(request)
    report = selectors.book_report(ebook=ebook)
    held = urlencode({"ebook__id__exact": ebook.pk, "state__in": "assigned,pending"})
    return {
        "allowed": True,
        "report": report,
        "holders_query": held,
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
        "chart": charts.line_chart(
            caption=f"Licenses of {ebook}",
            snapshots=selectors.book_history(ebook=ebook, days=days),
            days=days,
        ),
        "periods": selectors.CHART_PERIODS,
    }


@register.inclusion_tag("admin/reports/ledger.html", takes_context=True)
def person_ledger(context, person) -> dict:
    request = context["request"]
    if person is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"allowed": False}
    return {
        "allowed": True,
        "person": person,
        "rows": selectors.person_ledger(person=person),
        "devices": selectors.person_devices(person=person),
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
    }


@register.inclusion_tag("admin/reports/token.html", takes_context=True)
def token_report(context, token) -> dict:
    request = context["request"]
    if token is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"allowed": False}
    days = _days(request)
    row = next((r for r in selectors.token_rows() if r.token.pk == token.pk), None)
    return {
        "allowed": True,
        "row": row,
        "books": selectors.token_books(token=token, limit=20),
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
        "chart": charts.line_chart(
            caption=f"Licenses across the books of {token}",
            snapshots=selectors.token_history(token=token, days=days),
            days=days,
        ),
        "periods": selectors.CHART_PERIODS,
    }
