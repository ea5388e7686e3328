"""Reads for the Staff members page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from config.roles import ROLES


def staff_role(*, user) -> str:
    """The person's role in the portal, or "" when they hold none (uses prefetched groups)."""
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), "")


def staff_members_with_roles() -> QuerySet:
    """People who can hold a role, with their groups read in one extra query, not one per row."""
    return get_user_model().objects.prefetch_related("groups")
