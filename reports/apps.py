from __future__ import annotations

from django.apps import AppConfig

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS

# Dashboards, ledgers, funnels and exports are reads: every role has them.
_READ = ["view_dashboard", "export_csv", "view_stockalert", "view_stockthreshold"]


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"
    # Which of this app's permissions each role gets; see config/roles.py.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: [
            *_READ,
            "add_stockthreshold",
            "change_stockthreshold",
            "delete_stockthreshold",
        ],
        OPERATORS: _READ,
        LICENSE_VIEWERS: _READ,
    }

    def ready(self) -> None:
        from reports import signals

        signals.connect()
