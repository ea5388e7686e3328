"""Mail goes out after commit from its own task, with retries; a failure is recorded and shown,
and never stops a sync or a reconcile. Headers survive whatever the organisation is called."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.urls import reverse

from assignments.invitations import invitation_message, invitations_send
from assignments.models import AppleUser, GroupAssignment, License
from assignments.services import group_assignment_create
from config.mail import QUEUE_DOWN
from ebooks.models import EBook
from sync.models import SyncRun
from sync.reconcile import reconcile_token
from sync.services import sync_request, sync_run_execute
from tests.factories import AppleUserFactory, PersonFactory, UserGroupFactory
from tokens.crypto import decrypt
from tokens.models import TokenAlert, VppToken

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_task_queue(monkeypatch):
    monkeypatch.setattr("sync.tasks.reconcile_token.delay", lambda token_id: None)


@pytest.fixture
def mail_server_down(settings):
    """SMTP to a loopback port nobody listens on: every send fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2


def _sync(token) -> SyncRun:
    run = sync_request(token=token, trigger=SyncRun.Trigger.COMMAND, enqueue=False).run
    return sync_run_execute(run_id=run.pk)


def test_subject_reads_well_and_a_newline_in_the_org_name_cannot_break_headers():
    token = VppToken(org_name="Springfield Public Schools\nBcc: everyone@example.org")
    message = invitation_message(
        email="ada@school.example", link="https://x.example/i", token=token
    )
    assert message.subject == (
        "Books from Springfield Public Schools Bcc: everyone@example.org: join the book programme"
    )
    assert "'s" not in message.subject
    headers = message.message()  # Django refuses a header with a newline: this would raise
    assert "\n" not in headers["Subject"].replace("\n ", "")
    assert headers["Bcc"] is None


def test_invitation_is_queued_after_commit_with_only_the_row_id(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MAIL_SEND_EAGER = False
    queued = []
    monkeypatch.setattr("config.mail.mail_send.delay", lambda *args: queued.append(args))
    user = AppleUserFactory(status=AppleUser.Status.REGISTERED, invite_code="SECRET-CODE-1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert invitations_send(users=[user]) == 1
        assert queued == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert queued == [("invitation", user.pk)]
    assert "SECRET" not in repr(queued)
    user.refresh_from_db()
    assert user.invitation_mail == AppleUser.InvitationMail.QUEUED
    assert invitations_send(users=[user]) == 0  # queued once, not twice


def test_broker_down_records_the_invitation_as_not_sent(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MAIL_SEND_EAGER = False

    def refuse(*args):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr("config.mail.mail_send.delay", refuse)
    user = AppleUserFactory(status=AppleUser.Status.REGISTERED, invite_code="c")
    with django_capture_on_commit_callbacks(execute=True):
        invitations_send(users=[user])
    user.refresh_from_db()
    assert (user.invitation_mail, user.invitation_error) == ("failed", QUEUE_DOWN)


def test_mail_server_down_never_stops_the_reconcile_and_is_shown(
    apple, vpp_token, mail_server_down, portal_admin_client
):
    _sync(vpp_token)
    book = EBook.objects.filter(token=vpp_token, unlimited=False).order_by("pk").first()
    managed, invited = PersonFactory(managed=True), PersonFactory(email="sam@springfield.example")
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(members=[managed, invited])],
        intent=GroupAssignment.Intent.REQUIRED,
        confirmed_irrevocable=True,
    )
    result = reconcile_token(token=vpp_token)
    assert result.error == ""
    assert License.objects.get(person=managed).state == License.State.ASSIGNED
    assert License.objects.get(person=invited).state == License.State.WAITING_INVITATION
    user = AppleUser.objects.get(person=invited)
    assert user.invitation_mail == AppleUser.InvitationMail.FAILED
    assert "ConnectionRefusedError" in user.invitation_error
    assert user.invitation_sent_at is None
    assert mail.outbox == []
    page = portal_admin_client.get(reverse("admin:assignments_person_change", args=[invited.pk]))
    assert "ConnectionRefusedError" in page.content.decode()


def test_alert_mail_failing_never_keeps_a_sync_running(
    apple, vpp_token, mail_server_down, portal_admin
):
    portal_admin.email = "admin@example.org"
    portal_admin.save()
    apple.revoke(decrypt(vpp_token.secret_ciphertext))
    run = _sync(vpp_token)
    assert run.state == SyncRun.State.FAILED  # finished, with Apple's reason, not stuck running
    alert = TokenAlert.objects.get(token=vpp_token)
    assert alert.mail == TokenAlert.Mail.FAILED
    assert "ConnectionRefusedError" in alert.mail_error


def test_alert_mail_sent_is_recorded(apple, vpp_token, portal_admin):
    portal_admin.email = "admin@example.org"
    portal_admin.save()
    apple.revoke(decrypt(vpp_token.secret_ciphertext))
    _sync(vpp_token)
    alert = TokenAlert.objects.get(token=vpp_token)
    assert (alert.mail, alert.mail_error) == (TokenAlert.Mail.SENT, "")
    assert mail.outbox[-1].to == ["admin@example.org"]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_mail_after_commit(settings, live_worker, portal_admin):
    import time

    from config.mail import mails_send_later
    from tests.factories import VppTokenFactory

    settings.MAIL_SEND_EAGER = False
    portal_admin.email = "admin@example.org"
    portal_admin.save()
    token = VppTokenFactory()
    alert = TokenAlert.objects.create(
        token=token, kind=TokenAlert.Kind.DAYS_7, expires_at=token.expires_at, recipients=1
    )
    mails_send_later(kind="token_alert", ids=[alert.pk])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and alert.mail != TokenAlert.Mail.SENT:
        time.sleep(0.1)  # polling the worker, with a deadline
        alert.refresh_from_db()
    assert alert.mail == TokenAlert.Mail.SENT
    assert mail.outbox[-1].to == ["admin@example.org"]
