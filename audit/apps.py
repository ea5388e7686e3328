"""The audit log: who did what to which object, from which address, and how it ended.

Our own small model rather than django-auditlog: auditlog records field diffs of model saves,
while we need *actions* (an upload that Apple refused, a Sync now, a failed login, an export)
with the caller's IP address and the outcome, including actions that change no row at all.
"""

from __future__ import annotations

from django.apps import AppConfig

from config.roles import PORTAL_ADMINS


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"
    # Read only, and only for portal admins: nobody may add, change or delete entries.
    role_permissions: dict[str, list[str]] = {PORTAL_ADMINS: ["view_auditentry"]}

    def ready(self) -> None:
        from audit import signals  # noqa: F401 - connects login failures and role changes
