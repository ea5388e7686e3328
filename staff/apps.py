from __future__ import annotations

from django.apps import AppConfig

from config.roles import PORTAL_ADMINS


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "Staff"
    # Portal admins manage who holds which role, never superusers or the roles' permissions.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: ["add_staffmember", "change_staffmember", "view_staffmember"],
    }

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed

        from staff.forms import PortalLoginForm
        from staff.signals import on_groups_changed

        m2m_changed.connect(
            on_groups_changed,
            sender=get_user_model().groups.through,
            dispatch_uid="staff-is-staff-follows-role",
        )
        # Says what is wrong when a person without a role signs in.
        admin.site.login_form = PortalLoginForm
