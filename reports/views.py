"""Pages of the read side, in the admin: thin, every one checks the reader's permissions."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from assignments.models import Person, UserGroup
from ebooks.models import EBook
from reports import funnel, selectors
from reports.exports import EXPORT_COLUMNS, csv_response, queryset_converters, queryset_rows

DASHBOARD_PERMISSION = "reports.view_dashboard"
EXPORT_PERMISSION = "reports.export_csv"


def _require(request, *permissions: str) -> None:
    if not all(request.user.has_perm(permission) for permission in permissions):
        raise PermissionDenied


def _page(request, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request, template, {**admin.site.each_context(request), "title": title, **context}
    )


def changelist_export(request, app_label: str, model_name: str):
    """The changelist as CSV: the same filters, search and order as the page it came from."""
    _require(request, EXPORT_PERMISSION)
    key = f"{app_label}.{model_name}"
    if key not in EXPORT_COLUMNS:
        raise Http404("This list has no CSV export.")
    model = apps.get_model(app_label, model_name)
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        raise Http404("This list has no CSV export.") from None
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        return HttpResponseBadRequest("The export's filters are not valid for this list.")
    columns = EXPORT_COLUMNS[key]
    return csv_response(
        filename=model._meta.verbose_name_plural.replace(" ", "-"),
        header=[name for name, _ in columns],
        rows=queryset_rows(changelist.queryset, columns),
        converters=queryset_converters(model, columns),
    )


def dashboard_export(request, table: str):
    """One table of the home dashboard as CSV."""
    _require(request, DASHBOARD_PERMISSION, EXPORT_PERMISSION)
    if table == "tokens":
        header = ["token", "state", "expires at", "days left", "last sync at", "last sync ok"]
        header += ["books", "total", "assigned", "available", "counts as of"]
        rows = (
            (
                row.token.name,
                row.token.get_state_display(),
                row.token.expires_at,
                row.token.days_left,
                row.token.last_sync_at,
                row.token.last_sync_ok,
                row.books,
                row.total,
                row.assigned,
                row.available,
                row.counts_as_of,
            )
            for row in selectors.token_rows()
        )
    elif table == "forecasts":
        header = ["book", "token", "available", "waiting", "per day", "runs out on", "to buy"]
        header.append("advice")
        rows = (
            (
                str(f.ebook),
                f.ebook.token.name,
                f.available,
                f.waiting,
                round(f.per_day, 2),
                f.runs_out_on,
                f.to_buy,
                f.sentence,
            )
            for f in selectors.dashboard_read().forecasts
        )
    else:
        raise Http404("No such dashboard table.")
    return csv_response(filename=f"dashboard-{table}", header=header, rows=rows)


def leavers_view(request):
    """Inactive people who still hold book licenses: count and what they hold."""
    _require(request, DASHBOARD_PERMISSION, "assignments.view_person")
    if request.GET.get("format") == "csv":
        _require(request, EXPORT_PERMISSION)
        return csv_response(
            filename="leavers",
            header=["email", "name", "licenses held", "books"],
            rows=(
                (p.email, p.display_name, p.held, "; ".join(p.held_titles))
                for p in selectors.leavers_iter()
            ),
        )
    people = selectors.leavers_with_holdings(limit=200)
    return _page(
        request,
        "admin/reports/leavers.html",
        "Leavers who still hold licenses",
        people=people,
        total=selectors.leavers().count(),
    )


def funnel_view(request):
    """Invitation funnel of one book (over all its groups or one), or of one group's books."""
    _require(request, DASHBOARD_PERMISSION, "assignments.view_person")
    try:
        ebook_id, group_id = request.GET.get("ebook"), request.GET.get("group")
        ebook = get_object_or_404(EBook, pk=int(ebook_id)) if ebook_id else None
        group = get_object_or_404(UserGroup, pk=int(group_id)) if group_id else None
    except ValueError:
        return HttpResponseBadRequest("Choose a book and/or a group by their ids.")
    if ebook is None and group is None:
        return HttpResponseBadRequest("Choose a book and/or a group by their ids.")
    if ebook is None:
        return _page(
            request,
            "admin/reports/funnel_group.html",
            f"Invitation funnel: {group}",
            group=group,
            rows=funnel.funnel_by_book(group=group),
            steps=funnel.STEPS,
        )
    step = request.GET.get("step", "")
    result = funnel.funnel_read(ebook=ebook, group=group)
    if request.GET.get("format") == "csv":
        _require(request, EXPORT_PERMISSION)
        return csv_response(
            filename=f"funnel-{ebook.adam_id}",
            header=["step", "reached", "stuck at this step", "email", "name", "since"],
            rows=funnel.funnel_csv_rows(ebook=ebook, group=group, funnel=result),
        )
    stuck = None
    if step:
        crowd = next((s.stuck for s in result if s.key == step), 0)
        try:
            stuck = funnel.stuck_page(
                ebook=ebook, group=group, step=step, crowd=crowd, after=request.GET.get("after", "")
            )
        except ValueError:
            return HttpResponseBadRequest("That page of the list is not valid: start again.")
    return _page(
        request,
        "admin/reports/funnel.html",
        f"Invitation funnel: {ebook}" + (f" — {group}" if group else ""),
        ebook=ebook,
        group=group,
        funnel=result,
        step=step,
        stuck=stuck,
        groups=funnel.funnel_groups(ebook=ebook),
    )


def person_ledger_export(request, person_id: int):
    """One person's ledger as CSV."""
    _require(request, DASHBOARD_PERMISSION, EXPORT_PERMISSION, "assignments.view_person")
    person = get_object_or_404(Person, pk=person_id)
    rows = (
        (
            str(row.licence.ebook),
            row.licence.ebook.adam_id,
            row.licence.token.name,
            row.licence.get_state_display(),
            row.licence.assigned_at,
            "; ".join(f"{a.group} ({a.get_intent_display()})" for a in row.assignments),
            row.licence.kept,
            "; ".join(f"{i.device.serial_number}: {i.get_state_display()}" for i in row.installs),
        )
        for row in selectors.person_ledger(person=person)
    )
    header = ["book", "adam id", "token", "state", "since", "through", "kept", "installs"]
    return csv_response(filename=f"ledger-{person.pk}", header=header, rows=rows)
