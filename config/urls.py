from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config.password_reset import PasswordResetView
from config.views import favicon, healthz

admin.site.site_header = "Shelfkeeper"
admin.site.site_title = "Shelfkeeper"
admin.site.index_title = "Dashboard"
# A menu row under the header instead of the side bar: lists keep the width for their columns.
admin.site.enable_nav_sidebar = False
admin.site.site_url = None  # "View site" would lead back to this same admin

# The portal's own 403 page: says which role is needed, in the portal's look.
handler403 = "config.views.permission_denied"

# Password reset by email through Django's own views (the first rate limited) and the admin's
# templates (portal look).
password_reset = [
    path(
        "admin/password_reset/",
        PasswordResetView.as_view(),
        name="admin_password_reset",
    ),
    path(
        "admin/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon),
    *password_reset,
    # Before the admin's catch-all: dashboards, funnel, leavers and CSV exports.
    path("admin/reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    # Apple's notifications (bearer-authenticated per token); see sync/views.py.
    path("apple/", include("sync.urls")),
]
