"""Reads for tokens: the list page's rows and the banners every admin page shows."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from config.roles import OPERATORS, PORTAL_ADMINS
from tokens.models import VppToken

State = VppToken.State
# Warnings go to the people who can act on them (DESIGN.md: admins and operators).
BANNER_ROLES = {PORTAL_ADMINS, OPERATORS}


@dataclass(frozen=True)
class Banner:
    level: str  # "warning" or "error"
    message: str
    url: str


def tokens_needing_attention() -> QuerySet[VppToken]:
    """Tokens that are not simply valid, most urgent first."""
    return VppToken.objects.exclude(state=State.VALID).order_by("expires_at")


def user_sees_token_banners(user) -> bool:
    """Banners are for portal admins and operators (and superusers)."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return False
    return user.is_superuser or user.groups.filter(name__in=BANNER_ROLES).exists()


def token_banners(user) -> list[Banner]:
    """One line per token in trouble, for the top of every admin page."""
    if not user_sees_token_banners(user):
        return []
    now = timezone.now()
    banners = []
    for token in tokens_needing_attention().only(
        "pk", "name", "state", "expires_at", "foreign_mdm_name", "foreign_mdm_id"
    ):
        url = reverse("admin:tokens_vpptoken_change", args=[token.pk])
        if token.state == State.EXPIRING_SOON:
            days = max((token.expires_at - now).days, 0)
            message = (
                f"Token “{token.name}” expires in {days} day{'s' if days != 1 else ''} "
                f"({token.expires_at:%Y-%m-%d}). Renew it before then."
            )
            banners.append(Banner("warning", message, url))
        elif token.state == State.EXPIRED:
            banners.append(Banner("error", f"Token “{token.name}” has expired. Renew it.", url))
        elif token.state == State.INVALID:
            message = (
                f"Apple no longer accepts token “{token.name}” (invalid or revoked). Renew it."
            )
            banners.append(Banner("error", message, url))
        elif token.state == State.CLAIMED_ELSEWHERE:
            holder = token.foreign_mdm_name or token.foreign_mdm_id or "another product"
            message = (
                f"Token “{token.name}” is assigned to another product ({holder}); Shelfkeeper "
                "makes no changes at Apple for it until an admin takes control."
            )
            banners.append(Banner("error", message, url))
    return banners
