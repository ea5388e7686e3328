"""The REST API (/api/v1/): API keys, resources over the other apps, the device channel."""

from __future__ import annotations

from django.apps import AppConfig

from config.roles import PORTAL_ADMINS


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"
    # Portal admins make and revoke keys; the device channel permission belongs to device keys
    # (see api/scopes.py), so no role holds it.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: ["add_apikey", "change_apikey", "view_apikey"],
    }

    def ready(self) -> None:
        from api import checks  # noqa: F401 - registers the system check
