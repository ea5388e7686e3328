"""The confirmation page every directory change that would use book licenses goes through."""

from __future__ import annotations

from django.template.response import TemplateResponse

from assignments.services import LicensesNeedConfirmation

CONFIRM_FIELD = "_confirm_licenses"  # the count the admin was shown and confirmed
_NOT_REPOSTED = {"csrfmiddlewaretoken", CONFIRM_FIELD, "confirm"}


def confirmed_licenses(request) -> int | None:
    """The license count the admin confirmed on the confirmation page, if they did."""
    value = request.POST.get(CONFIRM_FIELD, "")
    if request.POST.get("confirm") != "on" or not value.isdigit():
        return None
    return int(value)


def confirmation_response(request, model_admin, needed: LicensesNeedConfirmation, *, what: str):
    """The form, posted again as hidden fields, behind the count and a box to tick."""
    reposted = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in _NOT_REPOSTED
        for value in values
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Confirm: book licenses can never be taken back",
        "what": what,
        "count": needed.count,
        "lines": needed.lines,
        "reposted": reposted,
        "confirm_field": CONFIRM_FIELD,
        "confirm_error": _confirm_error(request),
        "cancel_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/assignments/confirm_licenses.html", context)


def _confirm_error(request) -> str:
    if request.POST.get(CONFIRM_FIELD) is None:
        return ""
    if request.POST.get("confirm") != "on":
        return "Tick the box to confirm that these licenses can never be taken back."
    return "The numbers changed since you confirmed; check them and confirm again."
