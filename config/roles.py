"""The three roles of DESIGN.md, defined once.

Each app declares, on its AppConfig, which of its permissions each role gets:

    class TokensConfig(AppConfig):
        role_permissions = {PORTAL_ADMINS: ["add_vpptoken", ...], OPERATORS: ["view_vpptoken"]}

After every migrate, `roles_sync` makes each group hold exactly the declared permissions, so the
groups on a live install always match the code.
"""

from __future__ import annotations

import logging

from django.apps import apps

logger = logging.getLogger(__name__)

PORTAL_ADMINS = "Portal admins"
OPERATORS = "Operators"
LICENSE_VIEWERS = "License viewers"
ROLES = (PORTAL_ADMINS, OPERATORS, LICENSE_VIEWERS)
# Who holds which role is managed on the Staff members page (the staff app), by portal admins.


def declared_permissions() -> dict[str, set[tuple[str, str]]]:
    """Role name → {(app_label, codename)} collected from every installed app."""
    declared: dict[str, set[tuple[str, str]]] = {role: set() for role in ROLES}
    for config in apps.get_app_configs():
        for role, codenames in getattr(config, "role_permissions", {}).items():
            if role not in declared:
                raise ValueError(f"{config.label} declares permissions for unknown role {role!r}")
            declared[role].update((config.label, codename) for codename in codenames)
    return declared


def roles_sync() -> dict[str, int]:
    """Create the role groups and set each one's permissions to exactly the declared set."""
    # Imported here: app configs import this module before the model registry is ready.
    from django.contrib.auth.models import Group, Permission

    counts = {}
    for role, wanted in declared_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = [
            permission
            for permission in Permission.objects.select_related("content_type").filter(
                codename__in={codename for _, codename in wanted}
            )
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
        if missing:
            logger.warning("Role %s: permissions not found: %s", role, sorted(missing))
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts
