"""What each API key scope may do: exactly the permissions of the matching role."""

from __future__ import annotations

from functools import cache

from api.models import ApiKey
from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS, declared_permissions

DEVICE_CHANNEL_PERMISSION = "api.use_device_channel"

SCOPE_ROLES = {
    ApiKey.Scope.READ_ONLY: LICENSE_VIEWERS,
    ApiKey.Scope.OPERATOR: OPERATORS,
    ApiKey.Scope.ADMIN: PORTAL_ADMINS,
}


@cache
def scope_permissions(scope: str) -> frozenset[str]:
    """The "app_label.codename" permissions a key of this scope holds."""
    if scope == ApiKey.Scope.DEVICE:
        return frozenset({DEVICE_CHANNEL_PERMISSION})
    role = SCOPE_ROLES.get(scope)
    if role is None:
        return frozenset()
    return frozenset(f"{app}.{codename}" for app, codename in declared_permissions()[role])
