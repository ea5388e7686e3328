"""Invitation emails: how a person without a Managed Apple Account joins the programme (rule 8).

The link comes from Apple's service config (`invitationEmail`, with the user's inviteCode put in).
Each invitation is sent once by the reconciler; an admin can send it again.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.mail import get_connection, send_mass_mail
from django.utils import timezone

from apple.errors import AppleError, plain_message
from assignments.models import AppleUser
from tokens.clients import client_for_token
from tokens.models import VppToken


class InvitationError(Exception):
    """The invitation link could not be had from Apple."""


def invitation_message(
    *, email: str, link: str, token: VppToken
) -> tuple[str, str, None, list[str]]:
    """Subject and body of the invitation to join the organisation's book programme."""
    body = (
        f"{token.org_name} uses Apple's volume purchase programme to give you books.\n\n"
        "To receive them, open this link on your iPhone or iPad and sign in with your Apple "
        f"Account:\n\n{link}\n\nYou only need to do this once. The books will then appear in "
        "the Books app.\n"
    )
    return (f"Join {token.org_name}'s book programme", body, None, [email])


def invitations_send(*, users: Iterable[AppleUser], resend: bool = False, client=None) -> int:
    """Email each invited-but-not-joined user their link; returns how many were sent.

    Without `resend`, users already sent one are skipped.
    """
    due: dict[int, list[AppleUser]] = {}
    for user in users:
        if user.status != AppleUser.Status.REGISTERED or not user.invite_code or not user.email:
            continue
        if user.invitation_sent_at is not None and not resend:
            continue
        due.setdefault(user.token_id, []).append(user)
    sent = 0
    for token_id, batch in due.items():
        token = VppToken.objects.get(pk=token_id)
        try:
            config = (client or client_for_token(token)).service_config()
        except AppleError as error:
            raise InvitationError(plain_message(error)) from None
        messages = [
            invitation_message(email=user.email, link=link, token=token)
            for user in batch
            if (link := config.invitation_url(user.invite_code))
        ]
        with get_connection() as connection:
            send_mass_mail(messages, connection=connection)
        AppleUser.objects.filter(pk__in=[u.pk for u in batch]).update(
            invitation_sent_at=timezone.now()
        )
        sent += len(messages)
    return sent
