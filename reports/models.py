"""Daily history of license counts, per-book stock thresholds and the alerts they raised."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ebooks.models import EBook
from tokens.models import VppToken


class BookSnapshot(models.Model):
    """One book's counts on one day: 2,000 books x 3 years is 2.2 M narrow rows, no extra index."""

    # The composite key is the only index: it serves "one book, a date range" and the upsert.
    pk = models.CompositePrimaryKey("ebook_id", "day")
    ebook = models.ForeignKey(EBook, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    total = models.IntegerField()
    assigned = models.IntegerField()
    available = models.IntegerField()
    retired = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.ebook_id} on {self.day}"


class TokenSnapshot(models.Model):
    """A token's totals on one day (the sum over its books that day)."""

    pk = models.CompositePrimaryKey("token_id", "day")
    token = models.ForeignKey(VppToken, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    books = models.IntegerField()
    total = models.IntegerField()
    assigned = models.IntegerField()
    available = models.IntegerField()
    retired = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.token_id} on {self.day}"


class StockThreshold(models.Model):
    """A book's own low-stock level; books without one use the default (10 % or 5 left)."""

    ebook = models.OneToOneField(EBook, on_delete=models.CASCADE, related_name="stock_threshold")
    low_below = models.PositiveIntegerField(
        "low when fewer than",
        help_text="The book counts as running low when fewer licenses than this are available.",
    )

    class Meta:
        verbose_name = "low-stock threshold"

    def __str__(self) -> str:
        return f"{self.ebook}: low below {self.low_below}"


class StockAlert(models.Model):
    """A book crossed its threshold (or hit zero with people waiting): one row per crossing."""

    class Kind(models.TextChoices):
        LOW = "low", "Running low"
        EMPTY = "empty", "None left, people waiting"

    class Mail(models.TextChoices):
        PENDING = "pending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        NO_RECIPIENTS = "none", "No portal admin has an email address"

    ebook = models.ForeignKey(EBook, on_delete=models.CASCADE, related_name="stock_alerts")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    available = models.IntegerField(help_text="Licenses available when the book crossed.")
    waiting = models.IntegerField(default=0, help_text="People waiting when the book crossed.")
    raised_at = models.DateTimeField()
    # Set when the book is back above the line; the next crossing raises a new alert.
    cleared_at = models.DateTimeField(null=True, blank=True)
    mail_state = models.CharField(max_length=8, choices=Mail.choices, default=Mail.PENDING)
    mail_error = models.CharField(max_length=300, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-raised_at",)
        # The read side's own permissions hang here (every role gets them, see apps.py).
        permissions = [
            ("view_dashboard", "Can read the license dashboards"),
            ("export_csv", "Can export lists and dashboards as CSV"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=("ebook", "kind"),
                condition=Q(cleared_at__isnull=True),
                name="stock_alert_one_open_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.ebook}: {self.get_kind_display()}"
