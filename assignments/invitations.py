"""Invitation emails: how a person without a Managed Apple Account joins the programme (rule 8).

The link comes from Apple's service config (`invitationEmail`, with the user's inviteCode put in).
The reconciler queues each invitation once (an admin can queue it again); the mail task builds it
from the Apple user's row — so no link or code ever sits in a task's payload — sends it, and
records on the row whether it went out or why not. A mail server that is down delays an
invitation; it never stops a reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.mail import EmailMessage
from django.utils import timezone

from apple.errors import AppleError, plain_message
from assignments.models import AppleUser
from config.mail import header_safe, mails_send_later
from tokens.clients import client_for_token
from tokens.models import VppToken

Mail = AppleUser.InvitationMail


class InvitationError(Exception):
    """The invitation link could not be had from Apple."""


def invitation_message(*, email: str, link: str, token: VppToken) -> EmailMessage:
    """Subject and body of the invitation to join the organisation's book programme."""
    org = header_safe(token.org_name) or "Your organisation"
    body = (
        f"{org} uses Apple's volume purchase programme to give you books.\n\n"
        "To receive them, open this link on your iPhone or iPad and sign in with your Apple "
        f"Account:\n\n{link}\n\nYou only need to do this once. The books will then appear in "
        "the Books app.\n"
    )
    return EmailMessage(f"Books from {org}: join the book programme", body, None, [email])


def invitations_send(*, users: Iterable[AppleUser], resend: bool = False, client=None) -> int:
    """Queue the invitation of each invited-but-not-joined user; returns how many were queued.

    Without `resend`, users already sent one (or queued, or failed) are skipped. `client` is
    not needed any more: the mail task asks Apple for the link when it sends.
    """
    due = [
        user.pk
        for user in users
        if user.status == AppleUser.Status.REGISTERED
        and user.invite_code
        and user.email
        and (resend or (user.invitation_sent_at is None and not user.invitation_mail))
    ]
    AppleUser.objects.filter(pk__in=due).update(invitation_mail=Mail.QUEUED, invitation_error="")
    mails_send_later(kind="invitation", ids=due)
    return len(due)


def invitation_mail(apple_user_id: int) -> EmailMessage | None:
    """The invitation for one Apple user, built when it is sent; None if it is no longer due."""
    user = AppleUser.objects.select_related("token").filter(pk=apple_user_id).first()
    if user is None or user.status != AppleUser.Status.REGISTERED or not user.invite_code:
        AppleUser.objects.filter(pk=apple_user_id, invitation_mail=Mail.QUEUED).update(
            invitation_mail=""
        )
        return None
    try:
        config = client_for_token(user.token).service_config()
    except AppleError as error:
        raise InvitationError(plain_message(error)) from None
    link = config.invitation_url(user.invite_code)
    if not link:
        raise InvitationError("Apple's service gave no invitation link.")
    return invitation_message(email=user.email, link=link, token=user.token)


def invitation_mail_result(apple_user_id: int, error: str) -> None:
    """Record whether the invitation went out, or why not (shown on the Apple user's page)."""
    if error:
        AppleUser.objects.filter(pk=apple_user_id).update(
            invitation_mail=Mail.FAILED, invitation_error=error[:300]
        )
    else:
        AppleUser.objects.filter(pk=apple_user_id).update(
            invitation_mail=Mail.SENT, invitation_error="", invitation_sent_at=timezone.now()
        )
