from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from config.views import healthz

admin.site.site_header = "Shelfkeeper"
admin.site.site_title = "Shelfkeeper"
admin.site.index_title = "Dashboard"
# A menu row under the header instead of the side bar: lists keep the width for their columns.
admin.site.enable_nav_sidebar = False
admin.site.site_url = None  # "View site" would lead back to this same admin

# The portal's own 403 page: says which role is needed, in the portal's look.
handler403 = "config.views.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without a <link rel=icon> (JSON, files): no 404.
    path("favicon.ico", RedirectView.as_view(url=static("img/shelfkeeper.svg"), permanent=True)),
    path("admin/", admin.site.urls),
]
