from __future__ import annotations

from django.apps import AppConfig

from config.roles import OPERATORS, PORTAL_ADMINS


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Sync with Apple"
    # Which of this app's permissions each role gets; see config/roles.py.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: ["view_syncrun", "trigger_sync", "view_reconcilerun", "trigger_reconcile"],
        OPERATORS: ["view_syncrun", "trigger_sync", "view_reconcilerun", "trigger_reconcile"],
    }

    def ready(self) -> None:
        from assignments.signals import licenses_wanted_changed
        from sync.signals import on_licenses_wanted_changed

        licenses_wanted_changed.connect(
            on_licenses_wanted_changed, dispatch_uid="sync-reconcile-on-assignment-change"
        )
