"""Actions recorded from Django's own signals: failed sign-ins and role changes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from audit.services import Action, Outcome, audit_record
from config.roles import ROLES


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Only the user name: the password Django masks is never looked at.
    name = str(credentials.get("username", ""))[:150]
    audit_record(
        action=Action.LOGIN_FAILED,
        request=request,
        outcome=Outcome.REFUSED,
        actor_name=name,
        detail={"username": name},
    )


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="audit-role-change")
def _roles_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if reverse:  # group.user_set changed: instance is a group, pk_set users
        groups, users = [instance], list(get_user_model().objects.filter(pk__in=pk_set or ()))
    else:
        groups = list(Group.objects.filter(pk__in=pk_set or ())) if pk_set else []
        users = [instance]
    roles = sorted(g.name for g in groups if g.name in ROLES)
    if action != "post_clear" and not roles:
        return
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    for user in users:
        audit_record(action=Action.ROLE_CHANGE, target=user, detail={verb: roles})
