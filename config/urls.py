from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.views import healthz

admin.site.site_header = "Shelfkeeper"
admin.site.site_title = "Shelfkeeper"
admin.site.index_title = "Dashboard"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    # Before the admin's catch-all: dashboards, funnel, leavers and CSV exports.
    path("admin/reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
]
