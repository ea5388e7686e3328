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
    path("admin/", admin.site.urls),
    # Apple's notifications (bearer-authenticated per token); see sync/views.py.
    path("apple/", include("sync.urls")),
]
