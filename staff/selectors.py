"""Reads for the Staff members page."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from config.roles import ROLES


def staff_role(*, user) -> str:
    """The person's role in the portal, or "" when they hold none (uses prefetched groups)."""
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), "")


def staff_members_with_roles() -> QuerySet:
    """People who can hold a role, with their groups read in one extra query, not one per row,
    and whether their sign-in is paused now after too many wrong passwords (`sign_in_paused`)."""
    paused = AccessAttempt.objects.filter(
        username=OuterRef("username"),
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
    )
    return (
        get_user_model().objects.prefetch_related("groups").annotate(sign_in_paused=Exists(paused))
    )
