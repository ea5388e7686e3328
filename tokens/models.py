"""Content tokens and what the portal knows about each one's Apple location."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

# The first expiry alert goes out 60 days ahead; the badge turns amber at the same point.
EXPIRING_SOON = timedelta(days=60)


class Installation(models.Model):
    """This Shelfkeeper installation's identity, written to Apple as our mdmInfo id."""

    installation_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.installation_id)


class VppToken(models.Model):
    class AccountType(models.TextChoices):
        BUSINESS = "business", "Business"
        EDUCATION = "education", "Education"

    class State(models.TextChoices):
        VALID = "valid", "Valid"
        EXPIRING_SOON = "expiring_soon", "Expiring soon"
        EXPIRED = "expired", "Expired"
        INVALID = "invalid", "Invalid or revoked"
        CLAIMED_ELSEWHERE = "claimed_elsewhere", "Assigned to another product"

    # Badge tone of each state (CSS .portal-badge--<tone>), declared with the choices.
    STATE_TONES = {
        State.VALID: "ok",
        State.EXPIRING_SOON: "warning",
        State.EXPIRED: "error",
        State.INVALID: "error",
        State.CLAIMED_ELSEWHERE: "claimed",
    }

    name = models.CharField(max_length=200)
    apple_id = models.EmailField("Apple ID", help_text="The purchasing account's Apple ID.")
    account_type = models.CharField(max_length=16, choices=AccountType.choices)
    org_name = models.CharField("organisation", max_length=200)
    location_name = models.CharField("location", max_length=200, blank=True)
    location_uid = models.CharField(
        "Apple location id (uId)",
        max_length=100,
        unique=True,
        help_text="Apple's id of the library this token manages; one token per location.",
    )
    country_code = models.CharField(max_length=8, blank=True)
    store_platform = models.CharField(max_length=40, blank=True)
    website_url = models.URLField(blank=True)
    expires_at = models.DateTimeField()

    # Fernet ciphertext of the whole token file content; never shown or put in a form.
    secret_ciphertext = models.TextField(editable=False)
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)

    state = models.CharField(
        max_length=24, choices=State.choices, default=State.VALID, db_index=True
    )
    state_reason = models.CharField(max_length=500, blank=True)
    foreign_mdm_id = models.CharField(max_length=100, blank=True)
    foreign_mdm_name = models.CharField(max_length=100, blank=True)
    foreign_mdm_metadata = models.CharField(max_length=255, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    # Written by the sync through tokens.services so this app imports nothing above it.
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_ok = models.BooleanField(null=True)
    last_sync_summary = models.CharField(max_length=300, blank=True)
    book_count = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    renewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "VPP token"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def days_left(self) -> int:
        """Whole days until expiry (negative once expired); the dashboard export shows it."""
        return (self.expires_at - timezone.now()).days

    @property
    def state_tone(self) -> str:
        """The badge tone of the state, for templates (CSS .portal-badge--<tone>)."""
        return self.STATE_TONES.get(self.state, "muted")

    @property
    def is_claimed_elsewhere(self) -> bool:
        return self.state == self.State.CLAIMED_ELSEWHERE


class TokenAlert(models.Model):
    """An alert email that went out; one per token, kind and expiry date, never twice."""

    class Kind(models.TextChoices):
        DAYS_60 = "60d", "60 days left"
        DAYS_30 = "30d", "30 days left"
        DAYS_7 = "7d", "7 days left"
        DAYS_1 = "1d", "1 day left"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Invalid or revoked"
        CLAIMED = "claimed", "Assigned to another product"

    token = models.ForeignKey(VppToken, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    expires_at = models.DateTimeField(help_text="The token expiry this alert was about.")
    sent_at = models.DateTimeField(default=timezone.now)
    recipients = models.PositiveIntegerField(default=0)

    class Mail(models.TextChoices):
        NONE = "", "Not sent"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    mail = models.CharField("email", max_length=8, choices=Mail.choices, blank=True, default="")
    mail_error = models.CharField("why the email failed", max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("token", "kind", "expires_at"), name="token_alert_once_per_expiry"
            )
        ]

    def __str__(self) -> str:
        return f"{self.token} — {self.get_kind_display()}"
