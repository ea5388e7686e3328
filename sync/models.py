"""Sync and reconcile run history, where each token's incremental reads resume, Apple's events
the reconciler follows and the notifications Apple pushes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tokens.models import VppToken

ACTIVE_STATES = ("queued", "running")


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    PARTIAL = "partial", "Partly done"


class Run(models.Model):
    """What sync runs and reconcile runs share: their states, badge tones and times."""

    State = RunState
    # Badge tone of each state (CSS .portal-badge--<tone>), declared with the choices.
    STATE_TONES = {
        RunState.QUEUED: "muted",
        RunState.RUNNING: "info",
        RunState.SUCCEEDED: "ok",
        RunState.FAILED: "error",
        RunState.PARTIAL: "warning",
    }

    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or self.heartbeat_at or self.started_at) - self.started_at


class SyncRun(Run):
    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Sync now"
        COMMAND = "command", "Command line"

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


class SyncCursor(models.Model):
    """Where the next incremental sync of a token starts (Apple's versionIds)."""

    token = models.OneToOneField(VppToken, on_delete=models.CASCADE, related_name="sync_cursor")
    # Apple has no "changes since" for assets; an unchanged versionId means unchanged counts.
    assets_version_id = models.CharField(max_length=100, blank=True)
    users_version_id = models.CharField(max_length=100, blank=True)
    assignments_version_id = models.CharField(max_length=100, blank=True)
    full_synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sync position of {self.token}"


class ReconcileRun(Run):
    """One push of the licenses a token's group assignments ask for; shaped like SyncRun."""

    class Trigger(models.TextChoices):
        ASSIGNMENT = "assignment", "Assignment changed"
        MEMBERSHIP = "membership", "Group members changed"
        SYNC = "sync", "After a sync"
        NOTIFICATION = "notification", "Apple notification"
        FOLLOW_UP = "follow_up", "Apple finished a request"
        SCHEDULE = "schedule", "Scheduled"
        MANUAL = "manual", "Reconcile now"

    class Phase(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        CHECK = "check", "Checking what changed"
        BOOKS = "books", "Planning and asking Apple, book by book"
        LICENSES = "licenses", "Asking Apple for licenses"
        DONE = "done", "Done"

    token = models.ForeignKey(VppToken, on_delete=models.CASCADE, related_name="reconcile_runs")
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.WAITING)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Books are worked through in pk order over short tasks; the next task starts here.
    book_cursor = models.PositiveBigIntegerField(default=0)
    # Within the book after book_cursor: the person the next step starts at (0: the first).
    person_cursor = models.PositiveBigIntegerField(default=0)
    # Another change arrived while this run was working: a new run follows it.
    again = models.BooleanField(default=False)
    # A step holds the run until then (extended by its heartbeats, cleared when it hands over):
    # a task delivered twice finds it held and does nothing, so Apple is never asked twice.
    step_until = models.DateTimeField(null=True, blank=True)

    people_targeted = models.PositiveIntegerField(default=0)
    users_registered = models.PositiveIntegerField(default=0)
    invitations_sent = models.PositiveIntegerField(default=0)
    licenses_requested = models.PositiveIntegerField(default=0)
    licenses_assigned = models.PositiveIntegerField(default=0)
    licenses_failed = models.PositiveIntegerField(default=0)
    shortfall = models.PositiveIntegerField(default=0)
    books_failed = models.PositiveIntegerField(default=0)
    write_requests = models.PositiveIntegerField(default=0)
    apple_requests = models.PositiveIntegerField(default=0)

    error_message = models.CharField(max_length=2000, blank=True)

    class Meta:
        ordering = ("-queued_at",)
        constraints = [
            # Parallel triggers make one run; two runs never plan the same book side by side.
            models.UniqueConstraint(
                fields=("token",),
                condition=Q(state__in=ACTIVE_STATES),
                name="one_active_reconcile_per_token",
            )
        ]
        indexes = [
            models.Index(fields=("token", "-queued_at"), name="reconcilerun_token_recent"),
            models.Index(fields=("state", "heartbeat_at"), name="reconcilerun_state_heartbeat"),
        ]
        permissions = [("trigger_reconcile", "Can start a license reconcile (Reconcile now)")]

    def __str__(self) -> str:
        return f"Reconcile of {self.token} at {self.queued_at:%Y-%m-%d %H:%M}"


class ReconcileState(models.Model):
    """Per token: what changed since the last plan, the reconciler's own users cursor, and when
    the next follow-up of Apple's events is due."""

    token = models.OneToOneField(VppToken, on_delete=models.CASCADE, related_name="reconcile_state")
    changed_at = models.DateTimeField(null=True, blank=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    # Whether anything changed since the last plan is decided by these counters, not by the times
    # above: a change counted inside a transaction that commits after a plan began is still
    # newer than that plan (the plan read the count before it), however the clocks fall.
    change_seq = models.PositiveBigIntegerField(default=0)
    planned_seq = models.PositiveBigIntegerField(default=0)
    # Never the sync engine's cursor: the reconciler reads users since its own versionId.
    users_version_id = models.CharField(max_length=100, blank=True)
    # A users listing read over several short follow-ups: its sinceVersionId, the versionId of
    # its first page (the cursor once it ends) and the next page to read (None: no read open).
    users_read_since = models.CharField(max_length=100, blank=True)
    users_read_version_id = models.CharField(max_length=100, blank=True)
    users_read_page = models.PositiveIntegerField(null=True, blank=True)
    follow_up_at = models.DateTimeField(null=True, blank=True)
    # Without notifications, follow-ups look for accepted invitations every few minutes.
    invitations_checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Reconcile state of {self.token}"


class AppleEvent(models.Model):
    """A write Apple accepted and works on asynchronously, followed until it ends.

    An association is recorded before it is sent (state `sending`, its `event_id` our request
    key until Apple answers): the outbox of the pending licenses that carry the key. One left
    `sending` belongs to a worker that died before the answer was recorded (or an answer that
    was lost); its licenses are checked against Apple's listing, never requested again blind.
    """

    class Kind(models.TextChoices):
        USERS = "users", "Register users"
        LICENSES = "licenses", "Associate licenses"

    class State(models.TextChoices):
        SENDING = "sending", "Being sent to Apple"
        PENDING = "pending", "Pending at Apple"
        DONE = "done", "Done"
        GAVE_UP = "gave_up", "Stopped following"

    token = models.ForeignKey(VppToken, on_delete=models.CASCADE, related_name="apple_events")
    run = models.ForeignKey(
        ReconcileRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    event_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # The key the event's licenses carry in their event_id (one per request; `req:<hex>`).
    # Blank for older events: their licenses carry Apple's event id.
    license_key = models.CharField(max_length=100, blank=True)
    num_requested = models.PositiveIntegerField(default=0)
    num_completed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("token", "event_id"), name="apple_event_unique")
        ]
        indexes = [
            models.Index(
                fields=("token", "next_check_at"),
                condition=Q(state="pending"),
                name="apple_event_pending_due",
            ),
            models.Index(
                fields=("token", "license_key"),
                condition=~Q(license_key=""),
                name="apple_event_license_key",
            ),
            # Every run starts by asking whether a request was left unanswered.
            models.Index(
                fields=("token",), condition=Q(state="sending"), name="apple_event_sending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.event_id}"

    @property
    def license_ref(self) -> str:
        """What the event's licenses carry in their event_id: our key, or Apple's id (older)."""
        return self.license_key or self.event_id


class NotificationEndpoint(models.Model):
    """Where Apple sends a token's notifications; the bearer secret is kept only as a hash."""

    token = models.OneToOneField(
        VppToken, on_delete=models.CASCADE, related_name="notification_endpoint"
    )
    url = models.CharField(max_length=500, blank=True)
    auth_token_hash = models.CharField(max_length=64, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"Notifications of {self.token}"


class AppleNotification(models.Model):
    """A notification exactly as Apple posted it, applied later by a task."""

    token = models.ForeignKey(
        VppToken, on_delete=models.CASCADE, related_name="apple_notifications"
    )
    notification_id = models.CharField(max_length=100)
    notification_type = models.CharField(max_length=40, blank=True)
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-received_at",)
        constraints = [
            # Apple may deliver one notification up to three times: it is applied once.
            models.UniqueConstraint(
                fields=("token", "notification_id"), name="apple_notification_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=("received_at",),
                condition=Q(processed_at__isnull=True),
                name="apple_notification_unprocessed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} {self.notification_id}"
