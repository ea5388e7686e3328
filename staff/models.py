"""People who sign in to the portal, seen through their role (no table of its own)."""

from __future__ import annotations

from django.contrib.auth.models import User


class StaffMember(User):
    """A proxy of Django's user: the Staff members page manages roles, never superuser rights."""

    class Meta:
        proxy = True
        verbose_name = "staff member"
        verbose_name_plural = "staff members"
