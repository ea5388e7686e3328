"""Every endpoint names the Django permissions each of its actions needs, as the admin does."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class RolePermission(BasePermission):
    """Allow an action only to a user or key holding all the permissions the view declares.

    Views set `required_permissions = {"list": ("app.view_model",), ...}`; an action missing
    from it is refused, so a new action is closed until someone declares who may use it.
    """

    message = "Your account or API key does not have permission to do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if hasattr(view, "action") and view.action is None:
            return True  # a viewset's method it lacks: let DRF answer 405
        action = getattr(view, "action", None) or request.method.lower()
        needed = getattr(view, "required_permissions", {}).get(action)
        return needed is not None and user.has_perms(needed)
