"""URLs the sync app serves outside the admin."""

from __future__ import annotations

from django.urls import path

from sync.views import apple_notification

app_name = "sync"
urlpatterns = [
    path("notifications/<int:token_id>/", apple_notification, name="apple_notification"),
]
