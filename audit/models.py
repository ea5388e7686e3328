from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One action someone took in the portal (or tried to)."""

    class Action(models.TextChoices):
        TOKEN_UPLOAD = "token_upload", "Token uploaded"
        TOKEN_RENEW = "token_renew", "Token renewed"
        TOKEN_TAKE_CONTROL = "token_take_control", "Token: took control"
        TOKEN_DELETE = "token_delete", "Token deleted"
        SYNC_NOW = "sync_now", "Sync now"
        RECONCILE_NOW = "reconcile_now", "Reconcile now"
        ASSIGNMENT_CREATE = "assignment_create", "Assignment created"
        ASSIGNMENT_EDIT = "assignment_edit", "Assignment changed"
        ASSIGNMENT_DELETE = "assignment_delete", "Assignment removed"
        DIRECTORY_IMPORT = "directory_import", "Directory imported"
        ROLE_CHANGE = "role_change", "Roles changed"
        EXPORT = "export", "Export"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        SIGN_IN_UNLOCK = "sign_in_unlock", "Sign-in unpaused"

    class Outcome(models.TextChoices):
        OK = "ok", "Done"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too: the entry must outlive the user account, and failed logins have none.
    actor_name = models.CharField("who", max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField("target", max_length=300, blank=True)
    ip_address = models.GenericIPAddressField("from", null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ("-at",)
        indexes = [
            models.Index(fields=("action", "-at"), name="audit_action_recent"),
            models.Index(fields=("outcome", "-at"), name="audit_outcome_recent"),
            models.Index(fields=("actor_name", "-at"), name="audit_actor_recent"),
            models.Index(fields=("target_type", "target_id"), name="audit_target"),
            models.Index(fields=("ip_address", "-at"), name="audit_ip_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '?'}: {self.get_action_display()}"
