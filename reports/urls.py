"""The read side's pages, under /admin/reports/ and behind the admin's login."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from reports import views

app_name = "reports"


def _admin(view):
    return admin.site.admin_view(view)


urlpatterns = [
    path("leavers/", _admin(views.leavers_view), name="leavers"),
    path("funnel/", _admin(views.funnel_view), name="funnel"),
    path("dashboard/<slug:table>.csv", _admin(views.dashboard_export), name="dashboard_export"),
    path("ledger/<int:person_id>.csv", _admin(views.person_ledger_export), name="ledger_export"),
    path(
        "export/<slug:app_label>/<slug:model_name>/",
        _admin(views.changelist_export),
        name="changelist_export",
    ),
]
