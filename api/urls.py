"""/api/v1/: the resources, the device channel, the OpenAPI document and its reference page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api import views
from api.channel import DeviceChannelViewSet

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("tokens", views.TokenViewSet, basename="token")
router.register("books", views.BookViewSet, basename="book")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("people", views.PersonViewSet, basename="person")
router.register("groups", views.GroupViewSet, basename="group")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("licenses", views.LicenseViewSet, basename="license")
router.register("sync-runs", views.SyncRunViewSet, basename="syncrun")
router.register("reconcile-runs", views.ReconcileRunViewSet, basename="reconcilerun")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("device-channel", DeviceChannelViewSet, basename="device-channel")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page for people: not signed in means the sign-in page, not a JSON error. The split view
    # serves its start-up script as a file, so a Content-Security-Policy needs no inline script.
    path(
        "docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path("", include(router.urls)),
    # Anything else under /api/v1/ is a problem document too, not Django's HTML 404 page.
    re_path(r"^.*$", views.not_found, name="not-found"),
]
