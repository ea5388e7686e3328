"""Writes for the Staff members page: invite, change role, deactivate; is_staff follows the role."""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from config.roles import PORTAL_ADMINS, ROLES

INVITATION_SUBJECT = "staff/invitation_subject.txt"
INVITATION_BODY = "staff/invitation_email.txt"


def staff_flag_sync(*, user_ids: list[int]) -> None:
    """Set is_staff from the role: a role (or superuser) signs in, no role does not."""
    if not user_ids:
        return
    users = get_user_model().objects.filter(pk__in=user_ids)
    entitled = users.filter(Q(is_superuser=True) | Q(groups__name__in=ROLES)).values("pk")
    users.filter(pk__in=entitled).exclude(is_staff=True).update(is_staff=True)
    users.exclude(pk__in=entitled).exclude(is_staff=False).update(is_staff=False)


def staff_invite(
    *, email: str, role: str, first_name: str = "", last_name: str = "", accept_url
) -> object:
    """Create a person with a role and no password, and email them a link to set one.

    `accept_url(uidb64, token)` turns the one-time link's parts into an absolute URL. The
    account is saved before the email goes: if the mail server fails, the error reaches the
    caller and the invitation can be sent again.
    """
    email = email.strip().lower()
    user_model = get_user_model()
    if user_model.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).exists():
        raise ValidationError(
            f"{email} already has an account: open it in the list to change the role."
        )
    _check_role(role)
    with transaction.atomic():
        user = user_model(username=email, email=email, first_name=first_name, last_name=last_name)
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=role))  # the signal sets is_staff
    user.refresh_from_db()
    staff_invitation_send(member=user, accept_url=accept_url)
    return user


def staff_invitation_send(*, member, accept_url) -> None:
    """Email the person a one-time link to choose their password (Django's reset machinery)."""
    uid = urlsafe_base64_encode(force_bytes(member.pk))
    token = default_token_generator.make_token(member)
    context = {
        "days": settings.PASSWORD_RESET_TIMEOUT // 86400,
        "member": member,
        "role": _role_name(member),
        "accept_url": accept_url(uid, token),
    }
    PasswordResetForm().send_mail(INVITATION_SUBJECT, INVITATION_BODY, context, None, member.email)


def staff_change_check(*, member, role: str, active: bool, by) -> None:
    """Refuse what a portal admin may not do: superusers, their own role or account."""
    _check_managed(member=member, by=by)
    _check_role(role)
    if member.pk == by.pk and role != PORTAL_ADMINS and not by.is_superuser:
        raise ValidationError(
            "You cannot take away your own Portal admin role: ask another portal admin."
        )
    if member.pk == by.pk and not active:
        raise ValidationError("You cannot deactivate your own account.")


def staff_role_set(*, member, role: str, by) -> None:
    """Give a person exactly one role (replacing any other); never touches superuser rights."""
    staff_change_check(member=member, role=role, active=member.is_active, by=by)
    with transaction.atomic():
        member.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
        member.groups.add(Group.objects.get(name=role))


def staff_active_set(*, member, active: bool, by) -> None:
    """Deactivate (no sign-in, nothing deleted) or reactivate a person."""
    _check_managed(member=member, by=by)
    if member.pk == by.pk and not active:
        raise ValidationError("You cannot deactivate your own account.")
    member.is_active = active
    member.save(update_fields=["is_active"])


def staff_sign_in_unpause(*, member, by) -> int:
    """Let a person whose sign-in paused after wrong passwords try again now; returns how many
    paused addresses were cleared (django-axes keeps one record per user name and address)."""
    _check_managed(member=member, by=by)
    return axes_reset(username=member.get_username())


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"Choose a role: {', '.join(ROLES)}.")


def _check_managed(*, member, by) -> None:
    if member.is_superuser and not by.is_superuser:
        raise ValidationError("Superusers are managed outside the portal, not on this page.")


def _role_name(member) -> str:
    names = set(member.groups.values_list("name", flat=True))
    return next((role for role in ROLES if role in names), "")
