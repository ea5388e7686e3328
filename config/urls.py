from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from config.views import healthz

admin.site.site_header = "Shelfkeeper"
admin.site.site_title = "Shelfkeeper"
admin.site.index_title = "Dashboard"

# The portal's own 403 page: says which role is needed, in the portal's look.
handler403 = "config.views.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
