"""Email goes out after the transaction commits, from a task of its own, with retries.

A mail server that is down or slow never holds up a sync, a reconcile or a page: the caller
records what is to be sent and queues `mail_send` with the row's id (never an address, a link or
a code). The task builds the message from the row, sends it with EMAIL_TIMEOUT, retries with
back-off, and records on the row whether it went out, or why not.

Each kind of mail names, as dotted paths, the function that builds it from a row id (returning
None when there is nothing to send any more) and the one that records the outcome; config
imports no app, the apps provide these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

MAILS = {
    "invitation": (
        "assignments.invitations.invitation_mail",
        "assignments.invitations.invitation_mail_result",
    ),
    "token_alert": ("tokens.services.token_alert_mail", "tokens.services.token_alert_mail_result"),
}
MAX_RETRIES = 5  # with back-off from 30 s: about 15 minutes before a mail counts as failed
QUEUE_DOWN = "Not sent: the task queue is not reachable."


def header_safe(text: str) -> str:
    """Text fit for an email header: line breaks and other control characters become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def mails_send_later(*, kind: str, ids: Iterable[int]) -> None:
    """Queue one mail per row once the transaction commits (at once outside a transaction)."""
    ids = list(ids)
    if kind not in MAILS:
        raise ValueError(f"Unknown kind of mail: {kind}")
    if not ids:
        return
    if getattr(settings, "MAIL_SEND_EAGER", False):
        for row_id in ids:
            mail_send.apply(args=(kind, row_id))
        return
    transaction.on_commit(lambda: _enqueue(kind, ids), robust=True)


def _enqueue(kind: str, ids: list[int]) -> None:
    _, record = (import_string(path) for path in MAILS[kind])
    for row_id in ids:
        try:
            mail_send.delay(kind, row_id)
        except Exception:
            logger.warning("Mail %s %s not queued: the task queue is not reachable", kind, row_id)
            record(row_id, QUEUE_DOWN)


@shared_task(name="config.mail.mail_send", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def mail_send(self, kind: str, row_id: int) -> str:
    """Build and send one mail; retried with back-off, then recorded as failed."""
    build, record = (import_string(path) for path in MAILS[kind])
    try:
        message = build(row_id)
        if message is None:
            return "nothing to send"
        with get_connection(timeout=settings.EMAIL_TIMEOUT) as connection:
            connection.send_messages([message])
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"[:300]
        if self.request.retries < self.max_retries:
            logger.info("Mail %s %s failed (%s); retrying", kind, row_id, reason)
            raise self.retry(countdown=30 * 2**self.request.retries) from None
        logger.warning("Mail %s %s failed for good: %s", kind, row_id, reason)
        record(row_id, reason)
        return "failed"
    record(row_id, "")
    return "sent"
