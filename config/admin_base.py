"""Admin pieces every app uses (config is below all apps, so any app may import it)."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """What only Apple or the sync writes (books, runs, Apple's view of users): people read it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
