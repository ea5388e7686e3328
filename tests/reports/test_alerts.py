"""Low-stock alerts: once per crossing, recorded, mailed after commit; mail failures recorded."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from assignments.models import License
from config.roles import PORTAL_ADMINS
from reports.models import StockAlert, StockThreshold
from reports.services import stock_alerts_check
from tests.factories import EBookFactory, LicenseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(django_user_model):
    user = django_user_model.objects.create_user("boss", email="boss@x.example", is_staff=True)
    user.groups.add(Group.objects.get(name=PORTAL_ADMINS))
    django_user_model.objects.create_user("viewer", email="viewer@x.example", is_staff=True)
    return user


def _set(book, available: int) -> None:
    book.available_count = available
    book.assigned_count = book.total_count - available
    book.save()


def test_crossing_the_default_line_raises_one_alert_and_mails_admins(admins):
    book = EBookFactory(title="Atlas", total_count=100, available_count=50)
    assert stock_alerts_check() == []
    _set(book, 9)  # below 10 %
    [alert_id] = stock_alerts_check()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@x.example"]
    assert "Atlas is running low (9 left)" in mail.outbox[0].subject
    alert = StockAlert.objects.get(pk=alert_id)
    assert (alert.kind, alert.mail_state, alert.recipients) == ("low", "sent", 1)
    # Still low the next day: no second alert, no second email.
    _set(book, 7)
    assert stock_alerts_check() == []
    assert len(mail.outbox) == 1


def test_the_alert_is_queued_after_commit_with_only_its_id(
    admins, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MAIL_SEND_EAGER = False
    queued = []
    monkeypatch.setattr("config.mail.mail_send.delay", lambda *args: queued.append(args))
    EBookFactory(total_count=100, available_count=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [alert_id] = stock_alerts_check()
        assert queued == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert queued == [("stock_alert", alert_id)]


def test_recovering_then_crossing_again_raises_a_new_alert(admins):
    book = EBookFactory(total_count=100, available_count=3)
    assert len(stock_alerts_check()) == 1
    _set(book, 60)  # bought more
    assert stock_alerts_check() == []
    assert StockAlert.objects.get().cleared_at is not None
    _set(book, 2)
    assert len(stock_alerts_check()) == 1
    assert StockAlert.objects.count() == 2


def test_a_books_own_threshold_is_used_instead_of_the_default(admins):
    book = EBookFactory(total_count=100, available_count=30)
    assert stock_alerts_check() == []
    StockThreshold.objects.create(ebook=book, low_below=40)
    assert len(stock_alerts_check()) == 1


def test_zero_with_people_waiting_raises_its_own_alert(admins):
    book = EBookFactory(title="Dry", total_count=10, available_count=0, assigned_count=10)
    LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    stock_alerts_check()
    empty = StockAlert.objects.get(kind=StockAlert.Kind.EMPTY)
    assert empty.waiting == 2
    subjects = [message.subject for message in mail.outbox]
    assert any("no licenses left for Dry, 2 people waiting" in s for s in subjects)


def test_zero_without_anyone_waiting_is_only_a_low_alert(admins):
    EBookFactory(total_count=10, available_count=0)
    stock_alerts_check()
    assert list(StockAlert.objects.values_list("kind", flat=True)) == ["low"]


def test_free_and_gone_books_never_alert(admins):
    EBookFactory(free=True)
    EBookFactory(gone=True, total_count=10, available_count=0)
    assert stock_alerts_check() == []


def test_a_mail_failure_is_recorded_and_never_breaks_the_check(admins, settings):
    # SMTP to a loopback port nobody listens on: every send fails at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    book = EBookFactory(total_count=100, available_count=1)
    [alert_id] = stock_alerts_check()  # no exception reaches the caller
    alert = StockAlert.objects.get(pk=alert_id)
    assert alert.mail_state == "failed" and alert.mail_error
    assert alert.ebook == book


def test_a_sent_alert_is_never_mailed_twice(admins):
    from config.mail import mail_send

    EBookFactory(total_count=100, available_count=1)
    [alert_id] = stock_alerts_check()
    assert mail_send.apply(args=("stock_alert", alert_id)).get() == "nothing to send"
    assert len(mail.outbox) == 1  # a retried task after a lost acknowledgement


def test_no_portal_admin_with_an_address_is_recorded(db):
    EBookFactory(total_count=100, available_count=1)
    [alert_id] = stock_alerts_check()
    assert StockAlert.objects.get(pk=alert_id).mail_state == "none"
    assert mail.outbox == []


def test_a_broken_alert_check_never_fails_the_sync(monkeypatch, caplog):
    from reports.services import after_sync_record

    book = EBookFactory()

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("reports.services.stock_alerts_check", broken)
    after_sync_record(token_id=book.token_id)  # no exception
    assert "Could not record snapshots" in caplog.text


def test_email_timeout_is_set():
    from django.conf import settings

    assert settings.EMAIL_TIMEOUT >= 1


def test_the_stock_check_reads_a_fixed_number_of_queries_whatever_the_books(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            stock_alerts_check()
        return len(captured)

    EBookFactory(total_count=100, available_count=80)
    few = queries()
    for _ in range(10):
        EBookFactory(total_count=100, available_count=80)
    assert queries() == few
