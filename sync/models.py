"""Sync run history and where each token's incremental sync resumes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tokens.models import VppToken

ACTIVE_STATES = ("queued", "running")


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Sync now"
        COMMAND = "command", "Command line"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Partly done"

    # Badge tone of each state (CSS .portal-badge--<tone>), declared with the choices.
    STATE_TONES = {
        State.QUEUED: "muted",
        State.RUNNING: "info",
        State.SUCCEEDED: "ok",
        State.FAILED: "error",
        State.PARTIAL: "warning",
    }

    class Phase(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        CLAIM = "claim", "Checking the token"
        BOOKS = "books", "Books and license counts"
        METADATA = "metadata", "Titles, authors and covers"
        USERS = "users", "Users"
        ASSIGNMENTS = "assignments", "Licenses"
        DONE = "done", "Done"

    token = models.ForeignKey(VppToken, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    full = models.BooleanField(default=False, help_text="Re-read everything, not just changes.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    phase = models.CharField(max_length=12, choices=Phase.choices, default=Phase.WAITING)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)

    books_added = models.PositiveIntegerField(default=0)
    books_updated = models.PositiveIntegerField(default=0)
    books_gone = models.PositiveIntegerField(default=0)
    licenses_seen = models.PositiveIntegerField(default=0)
    users_seen = models.PositiveIntegerField(default=0)
    foreign_users_ignored = models.PositiveIntegerField(default=0)
    foreign_licenses_ignored = models.PositiveIntegerField(default=0)
    apple_requests = models.PositiveIntegerField(default=0)

    error_number = models.IntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)
    users_version_id = models.CharField(max_length=100, blank=True)
    assignments_version_id = models.CharField(max_length=100, blank=True)

    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-queued_at",)
        constraints = [
            # Twenty clicks on "Sync now" make one run: the database refuses a second active one.
            models.UniqueConstraint(
                fields=("token",),
                condition=Q(state__in=ACTIVE_STATES),
                name="one_active_sync_per_token",
            )
        ]
        indexes = [
            models.Index(fields=("token", "-queued_at"), name="syncrun_token_recent"),
            models.Index(fields=("state", "heartbeat_at"), name="syncrun_state_heartbeat"),
        ]
        permissions = [("trigger_sync", "Can start a sync with Apple (Sync now)")]

    def __str__(self) -> str:
        return f"Sync of {self.token} at {self.queued_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or self.heartbeat_at or self.started_at) - self.started_at


class SyncCursor(models.Model):
    """Where the next incremental sync of a token starts (Apple's versionIds)."""

    token = models.OneToOneField(VppToken, on_delete=models.CASCADE, related_name="sync_cursor")
    # Apple has no "changes since" for assets; an unchanged versionId means unchanged counts.
    assets_version_id = models.CharField(max_length=100, blank=True)
    users_version_id = models.CharField(max_length=100, blank=True)
    assignments_version_id = models.CharField(max_length=100, blank=True)
    full_synced_at = models.DateTimeField(null=True, blank=True)
    # One license reconcile per token at a time: taken with a conditional UPDATE, expires.
    reconcile_lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sync position of {self.token}"
