"""API keys: shown once, stored as a SHA-256 hash, scoped to one of the portal's roles."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        READ_ONLY = "read_only", "Read-only (as License viewers)"
        OPERATOR = "operator", "Operator (as Operators)"
        ADMIN = "admin", "Admin (as Portal admins)"
        DEVICE = "device", "Device channel (install status only)"

    name = models.CharField(max_length=200, help_text="What uses this key, e.g. “SIS nightly”.")
    scope = models.CharField(max_length=12, choices=Scope.choices)
    # The first characters of the key, for recognising it in lists; the rest is never stored.
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ("-created_at",)
        permissions = [
            ("use_device_channel", "Can report devices and installs (device channel)"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
