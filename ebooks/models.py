"""The eBook catalogue of each token, as Apple reports it. Books come only from Apple."""

from __future__ import annotations

from django.db import models

from config.admin_base import KeepCase
from tokens.models import VppToken


class EBook(models.Model):
    """One book edition a token owns licenses for: Apple keys it by (adamId, pricingParam)."""

    class Pricing(models.TextChoices):
        STDQ = "STDQ", "Standard"
        PLUS = "PLUS", "Enhanced (PLUS)"

    token = models.ForeignKey(VppToken, on_delete=models.CASCADE, related_name="ebooks")
    adam_id = models.CharField("Apple id (adamId)", max_length=32)
    pricing_param = models.CharField("edition", max_length=8, choices=Pricing.choices)

    title = models.CharField(max_length=500, blank=True)
    author = models.CharField(max_length=300, blank=True)
    genres = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    artwork_url = models.URLField(max_length=1000, blank=True)
    cover = models.BinaryField(null=True, blank=True, editable=False)
    cover_type = models.CharField(max_length=40, blank=True)
    metadata_fetched_at = models.DateTimeField(null=True, blank=True)

    total_count = models.PositiveIntegerField(default=0)
    assigned_count = models.PositiveIntegerField(default=0)
    available_count = models.PositiveIntegerField(default=0)
    retired_count = models.PositiveIntegerField(default=0)
    unlimited = models.BooleanField(default=False, help_text="Free book: Apple sets no limit.")
    counts_as_of = models.DateTimeField(
        "counts as of",
        null=True,
        blank=True,
        help_text="When the counts were last read from Apple (a sync or an event's outcome).",
    )

    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    gone_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the book left the token (moved or refunded). Kept, never deleted.",
    )

    class Meta:
        verbose_name = "eBook"
        ordering = ("title", "adam_id")
        constraints = [
            models.UniqueConstraint(
                fields=("token", "adam_id", "pricing_param"), name="ebook_unique_per_token"
            )
        ]
        indexes = [
            models.Index(fields=("title",), name="ebook_title"),
            models.Index(fields=("author",), name="ebook_author"),
            models.Index(fields=("adam_id",), name="ebook_adam_id"),
        ]

    def __str__(self) -> str:
        edition = " (PLUS)" if self.pricing_param == self.Pricing.PLUS else ""
        return f"{self.title or self.adam_id}{edition}"

    @property
    def picker_label(self) -> str:
        """Title, edition, token and what is left: tells two tokens' copies apart."""
        left = "unlimited" if self.unlimited else f"{self.available_count} of {self.total_count}"
        return (
            f"{self.title or self.adam_id} — {self.get_pricing_param_display()} — "
            f"{self.token.name} — {left} available"
        )


# Set here, not in Meta: the admin's menu and breadcrumbs capitalise it ("EBooks") otherwise.
EBook._meta.verbose_name_plural = KeepCase("eBooks")
