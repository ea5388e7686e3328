"""The project's own app: roles after migrate, health tasks, admin branding templates."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender, **kwargs) -> None:
    from config.roles import roles_sync

    roles_sync()


def var_folders_create() -> None:
    """Folders under VAR_DIR that must exist before first use: static root, embedded broker."""
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    if settings.CELERY_BROKER_URL != "filesystem://":
        return
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for folder in (
        options["data_folder_in"],
        options["processed_folder"],
        options["control_folder"],
    ):
        Path(folder).mkdir(parents=True, exist_ok=True)
    Path(settings.CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


class PortalConfig(AppConfig):
    name = "config"
    label = "portal"
    verbose_name = "Shelfkeeper"

    def ready(self) -> None:
        # Web, worker and beat all pass through here, and any of them may publish first.
        var_folders_create()
        from config.admin_base import admin_lookups_restrict

        admin_lookups_restrict()  # only declared filters from the URL, on every admin page
        # This app is last in INSTALLED_APPS and post_migrate is sent app by app, so by the time
        # it is sent for us every other app's permissions exist.
        post_migrate.connect(
            _roles_after_migrate, sender=self, dispatch_uid="shelfkeeper-roles-sync"
        )
