"""People, groups and devices (the directory); who should and who does hold each book."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ebooks.models import EBook
from tokens.fields import EncryptedTextField
from tokens.models import VppToken


class Person(models.Model):
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    managed_apple_id = models.CharField(
        "managed Apple ID",
        max_length=254,
        blank=True,
        help_text="Set when the person has a Managed Apple Account: no invitation is needed.",
    )
    active = models.BooleanField(default=True, db_index=True)
    removed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Deleted while Apple knew them: kept, inactive, so that importing the same "
        "email again brings them back with their Apple user and licenses.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "people"
        ordering = ("email",)
        indexes = [
            models.Index(fields=("display_name",), name="person_display_name"),
            # The "managed Apple ID" list filter.
            models.Index(fields=("managed_apple_id",), name="person_managed_apple_id"),
            # The assign preview counts a 100,000-member group's active people, and those who
            # need an invitation, by merging these ids with the group's (index-only, no heap).
            models.Index(fields=("id",), condition=Q(active=True), name="person_active_id"),
            models.Index(
                fields=("id",),
                condition=Q(active=True, managed_apple_id=""),
                name="person_needs_invitation_id",
            ),
        ]
        permissions = [("import_directory", "Can import people, groups and devices from CSV")]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>" if self.display_name else self.email


class UserGroup(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    members = models.ManyToManyField(Person, through="Membership", related_name="user_groups")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    group = models.ForeignKey(UserGroup, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("group", "person"), name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.group}"


class Device(models.Model):
    serial_number = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100, blank=True)
    os_version = models.CharField("OS version", max_length=40, blank=True)
    owner = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    has_books_app = models.BooleanField("Books app installed", default=True)

    class Meta:
        ordering = ("serial_number",)
        indexes = [
            models.Index(fields=("has_books_app",), name="device_has_books_app"),
            models.Index(fields=("model",), name="device_model"),
            models.Index(fields=("name",), name="device_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.model or 'Device'} ({self.serial_number})"


class AppleUser(models.Model):
    """A user this installation registered with Apple for one token.

    The clientUserId is ours (it starts with this installation's prefix) and is never reused
    for another person. Users other products registered are never stored.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be registered"
        REGISTERED = "registered", "Invited (not yet accepted)"
        ASSOCIATED = "associated", "Joined"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Registration failed"

    # No index of its own: the unique (token, client_user_id) one leads with it. No database
    # constraint either (see License): the sync is this table's writer and the anti-join after
    # each run checks it; Django's own CASCADE still deletes the rows with their token.
    token = models.ForeignKey(
        VppToken,
        on_delete=models.CASCADE,
        related_name="apple_users",
        db_index=False,
        db_constraint=False,
    )
    # Indexed below only where set (apple_user_person).
    person = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="apple_users",
        db_index=False,
    )
    client_user_id = models.CharField(max_length=100)
    email = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    # Apple's invitation code is a secret (it joins a person to the organisation's account).
    invite_code = EncryptedTextField(blank=True)
    id_hash = models.CharField(max_length=200, blank=True)
    managed = models.BooleanField(default=False, help_text="Registered with a Managed Apple ID.")

    class InvitationMail(models.TextChoices):
        NONE = "", "Not sent"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    invitation_sent_at = models.DateTimeField(null=True, blank=True)
    # db_default: the sync inserts Apple users with raw SQL that names only its own columns.
    invitation_mail = models.CharField(
        "invitation email",
        max_length=8,
        choices=InvitationMail.choices,
        blank=True,
        default="",
        db_default="",
    )
    invitation_error = models.CharField(
        "why the invitation email failed", max_length=300, blank=True, default="", db_default=""
    )
    error = models.CharField(max_length=500, blank=True)
    event_id = models.CharField(max_length=100, blank=True)
    # Set by each sync that saw the user at Apple; a full sync retires the ones it did not see.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Apple user"
        constraints = [
            models.UniqueConstraint(
                fields=("token", "client_user_id"), name="apple_user_unique_client_id"
            ),
            # One live Apple user per person and token; retired ones may pile up.
            models.UniqueConstraint(
                fields=("token", "person"),
                condition=~Q(status="retired") & Q(person__isnull=False),
                name="apple_user_one_per_person_token",
            ),
        ]
        indexes = [
            # With the person: the assign preview's "already joined" anti-join reads the index
            # alone (60,000 entries of a token, ~365 pages) instead of fetching each associated
            # user's row (~5,800 heap pages). Trade-off: unique keys no longer deduplicate, so
            # the index is ~13 MB instead of ~2 MB at 300,000 users; it replaces, not adds, an
            # index the sync already maintained.
            models.Index(fields=("token", "status", "person"), name="apple_user_token_status"),
            # Search by email prefix (an index range, see prefix_q), and re-linking a
            # re-imported person to the Apple user a deletion left behind (email = … AND person
            # IS NULL). One index for both: the sync writes 300,000 of these rows.
            models.Index(fields=("email",), name="apple_user_email"),
            # Only the users linked to a person: no query looks for the unlinked ones by
            # person, and a first sync adopting a token's existing Apple users (300,000 with no
            # person yet) would otherwise write an entry for each.
            models.Index(
                fields=("person",), condition=Q(person__isnull=False), name="apple_user_person"
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.client_user_id


class License(models.Model):
    """A book license as we know it: held at Apple, on its way, or held back and why."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending at Apple"
        ASSIGNED = "assigned", "Assigned"
        WAITING_INVITATION = "waiting_invitation", "Waiting for the invitation to be accepted"
        NOT_ENOUGH = "not_enough", "Not enough licenses"
        FAILED = "failed", "Failed"

    # The sync writes a million of these per token: token, ebook and person get no index of
    # their own, the composite indexes below lead with them.
    # Trade-off: no row-level foreign keys (db_constraint=False). PostgreSQL checked each of a
    # full sync's million rows against four tables, about 13 of its 33 CPU-seconds; our own
    # code is the only writer, Django's collector still cascades deletes (CASCADE/SET_NULL are
    # emulated, never left to the database), and the sync proves the references after each
    # run with one anti-join (assignments.bulk_sql.mirror_orphans_count) that fails the run if
    # it finds an orphan. What we give up: a raw SQL DELETE elsewhere would leave orphans for
    # that check to report instead of being refused.
    token = models.ForeignKey(
        VppToken,
        on_delete=models.CASCADE,
        related_name="licenses",
        db_index=False,
        db_constraint=False,
    )
    ebook = models.ForeignKey(
        EBook,
        on_delete=models.CASCADE,
        related_name="licenses",
        db_index=False,
        db_constraint=False,
    )
    # No index of its own: the unique (apple_user, ebook) one leads with it.
    apple_user = models.ForeignKey(
        AppleUser,
        on_delete=models.CASCADE,
        related_name="licenses",
        db_index=False,
        db_constraint=False,
    )
    person = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="licenses",
        db_index=False,
        db_constraint=False,
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    error_number = models.IntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    event_id = models.CharField(max_length=100, blank=True)
    kept = models.BooleanField(
        default=False,
        help_text="No assignment asks for it any more; book licenses cannot be taken back.",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Apple user first, so it also serves "this user's licenses" (and the cascade
            # from a deleted Apple user) without an index of its own: one index fewer for
            # the sync to fill, a sixth of its database work. By book: license_ebook_state.
            models.UniqueConstraint(fields=("apple_user", "ebook"), name="license_unique")
        ]
        # Each index costs every sync a million entries: only what pages and the reconciler
        # read. The two partial ones hold the few rows not 'assigned' / kept, so the sync,
        # which writes assigned licenses that are not kept, barely touches them.
        indexes = [
            models.Index(fields=("ebook", "state"), name="license_ebook_state"),
            # Only licenses of a person, as apple_user_person: those of unlinked Apple users
            # are found by their Apple user or book, never by "no person".
            models.Index(
                fields=("person", "state"),
                condition=Q(person__isnull=False),
                name="license_person_state",
            ),
            # The license list filtered by token, newest first.
            models.Index(fields=("token", "id"), name="license_token_id"),
            # Filters by state (and their counts): pending, waiting, failed... never 'assigned'.
            models.Index(
                fields=("state", "id"),
                condition=~Q(state="assigned"),
                name="license_state_not_assigned",
            ),
            models.Index(fields=("id",), condition=Q(kept=True), name="license_kept"),
            # The reconciler follows Apple's events: the few licenses still pending, by event.
            models.Index(
                fields=("event_id",), condition=Q(state="pending"), name="license_pending_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ebook} → {self.apple_user}"


class GroupAssignment(models.Model):
    """The desired state: a book offered (Available) or pushed (Required) to a user group."""

    class Intent(models.TextChoices):
        AVAILABLE = "available", "Available"
        REQUIRED = "required", "Required"

    ebook = models.ForeignKey(EBook, on_delete=models.CASCADE, related_name="group_assignments")
    group = models.ForeignKey(UserGroup, on_delete=models.CASCADE, related_name="assignments")
    intent = models.CharField(max_length=10, choices=Intent.choices)
    excluded_groups = models.ManyToManyField(UserGroup, blank=True, related_name="+")
    cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many licenses for this assignment."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("ebook", "group"), name="group_assignment_unique")
        ]
        indexes = [models.Index(fields=("intent",), name="group_assignment_intent")]

    def __str__(self) -> str:
        return f"{self.ebook} → {self.group} ({self.get_intent_display()})"


class BookOffer(models.Model):
    """A book a person has been given through an assignment, with the strongest intent."""

    # No index of its own: offer_unique leads with it (each reconcile writes a book's offers
    # for every person it targets, 100,000 for a big group; one index less to keep).
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="offers", db_index=False
    )
    ebook = models.ForeignKey(EBook, on_delete=models.CASCADE, related_name="offers")
    intent = models.CharField(max_length=10, choices=GroupAssignment.Intent.choices)
    offered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("person", "ebook"), name="offer_unique")]

    def __str__(self) -> str:
        return f"{self.ebook} offered to {self.person}"


class InstallRequest(models.Model):
    """A Required book to be installed on one of the person's devices (install monitoring)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued on the device"
        INSTALLING = "installing", "Installing"
        INSTALLED = "installed", "Installed"
        FAILED = "failed", "Failed"
        UNINSTALLED = "uninstalled", "Uninstalled"
        NO_BOOKS_APP = "no_books_app", "Books app missing on the device"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="install_requests")
    ebook = models.ForeignKey(EBook, on_delete=models.CASCADE, related_name="install_requests")
    person = models.ForeignKey(
        Person, null=True, on_delete=models.SET_NULL, related_name="install_requests"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # What the device-management channel last reported: Apple's own state and rejection reason
    # (e.g. "Failed" / "PurchaseNotFound"), kept verbatim for the admin.
    device_state = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("device", "ebook"), name="install_request_unique")
        ]
        indexes = [
            # Install summaries per book.
            models.Index(fields=("ebook", "state"), name="install_request_ebook_state"),
            # The device channel's pending installs in id order; it also serves the dashboard's
            # install failures and the install list's state filter (state leads), so no index
            # on state alone.
            models.Index(fields=("state", "id"), name="install_request_state_id"),
        ]

    def __str__(self) -> str:
        return f"{self.ebook} on {self.device}"


class DirectoryImport(models.Model):
    """One import of the directory's CSV files, run by a task with progress, like a sync run."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        NEEDS_CONFIRMATION = "confirm", "Waiting for your confirmation"
        SUCCEEDED = "succeeded", "Imported"
        FAILED = "failed", "Not imported"

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The uploaded files wait here (under VAR_DIR) until the import is final.
    folder = models.CharField(max_length=255, blank=True)
    files = models.JSONField(default=list, help_text="Which files were uploaded, in order.")
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    licenses = models.PositiveIntegerField(
        default=0, help_text="Book licenses the import uses for good."
    )
    license_lines = models.JSONField(default=list)
    confirmed_licenses = models.PositiveIntegerField(null=True, blank=True)
    summary = models.JSONField(default=list, help_text="One line per file.")
    problems = models.JSONField(default=list, help_text="Every problem found, by file and line.")
    more_problems = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Directory import {self.pk} ({self.get_state_display()})"

    @property
    def active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)
