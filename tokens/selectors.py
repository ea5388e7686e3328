"""Reads for tokens: the list page's rows and the banners every admin page shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from config.roles import OPERATORS, PORTAL_ADMINS
from tokens.models import TokenAlert, VppToken

State = VppToken.State
# Warnings go to the people who can act on them (DESIGN.md: admins and operators).
BANNER_ROLES = {PORTAL_ADMINS, OPERATORS}
# How far back an alert that reached nobody is still worth a banner.
UNREACHED_ALERT_WINDOW = timedelta(days=60)


@dataclass(frozen=True)
class Banner:
    level: str  # "warning" or "error"
    message: str
    url: str


def tokens_needing_attention() -> QuerySet[VppToken]:
    """Tokens that are not simply valid, most urgent first."""
    return VppToken.objects.exclude(state=State.VALID).order_by("expires_at")


def alert_recipients() -> list[str]:
    """Email addresses token alerts go to: active portal admins and superusers."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    users = users.filter(Q(groups__name=PORTAL_ADMINS) | Q(is_superuser=True)).distinct()
    return sorted(users.values_list("email", flat=True))


@dataclass(frozen=True)
class AlertEmail:
    token_id: int
    sent_at: object  # datetime
    kind_label: str
    recipients: int
    mail_label: str = ""  # queued / sent / failed, by the mail task
    mail_error: str = ""


def alert_emails(*, token: VppToken | None = None, limit: int = 20) -> list[AlertEmail]:
    """One entry per alert email sent (or that reached nobody), newest first."""
    alerts = TokenAlert.objects.order_by("-sent_at")
    if token is not None:
        alerts = alerts.filter(token=token)
    emails: dict[tuple[int, object], TokenAlert] = {}
    for alert in alerts[: limit * 4]:
        key = (alert.token_id, alert.sent_at)
        kept = emails.get(key)
        if kept is None or (alert.recipients, -_rank(alert)) > (kept.recipients, -_rank(kept)):
            emails[key] = alert
    return [
        AlertEmail(
            a.token_id,
            a.sent_at,
            a.get_kind_display(),
            a.recipients,
            a.get_mail_display() if a.mail else "",
            a.mail_error,
        )
        for a in list(emails.values())[:limit]
    ]


def _rank(alert: TokenAlert) -> int:
    """Nearest threshold first: crossed together, the nearest one was the email's subject."""
    order = ["1d", "7d", "30d", "60d"]
    return order.index(alert.kind) if alert.kind in order else -1


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
    # Alerts go out only for tokens in trouble, so the same read says whether one went unheard.
    unheard = TokenAlert.objects.filter(
        token=OuterRef("pk"), recipients=0, sent_at__gte=now - UNREACHED_ALERT_WINDOW
    )
    troubled = tokens_needing_attention().only(
        "pk", "name", "state", "expires_at", "foreign_mdm_name", "foreign_mdm_id"
    )
    troubled = list(troubled.annotate(alert_unheard=Exists(unheard)))
    for token in troubled:
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
    if any(token.alert_unheard for token in troubled):
        banners.extend(_unreached_alert_banners())
    return banners


def _unreached_alert_banners() -> list[Banner]:
    """While no portal admin has an email address, say that the latest alert went to nobody."""
    latest = alert_emails(limit=1)
    if not latest or latest[0].recipients or alert_recipients():
        return []
    alert = latest[0]
    name = VppToken.objects.filter(pk=alert.token_id).values_list("name", flat=True).first()
    message = (
        f"The alert “{alert.kind_label}” about token “{name}” reached nobody: no portal admin "
        "has an email address. Add one under Staff members."
    )
    url = reverse("admin:tokens_vpptoken_change", args=[alert.token_id])
    return [Banner("error", message, url)]
