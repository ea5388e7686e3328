"""Low-stock alerts: once per crossing, recorded, mailed after commit; mail failures recorded."""

from __future__ import annotations

from smtplib import SMTPException

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from assignments.models import License
from config.roles import PORTAL_ADMINS
from reports.models import StockAlert, StockThreshold
from reports.services import stock_alert_mail, stock_alerts_check
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


def test_crossing_the_default_line_raises_one_alert_and_mails_admins_after_commit(
    admins, django_capture_on_commit_callbacks, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        book = EBookFactory(title="Atlas", total_count=100, available_count=50)
        assert stock_alerts_check() == []
        _set(book, 9)  # below 10 %
        with django_capture_on_commit_callbacks(execute=True):
            [alert_id] = stock_alerts_check()
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["boss@x.example"]
        assert "Atlas is running low (9 left)" in mail.outbox[0].subject
        alert = StockAlert.objects.get(pk=alert_id)
        assert (alert.kind, alert.mail_state, alert.recipients) == ("low", "sent", 1)
        # Still low the next day: no second alert, no second email.
        _set(book, 7)
        with django_capture_on_commit_callbacks(execute=True):
            assert stock_alerts_check() == []
        assert len(mail.outbox) == 1
    finally:
        app.conf.task_always_eager = False


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
    stock_alert_mail(alert_id=empty.pk)
    assert "no licenses left for Dry, 2 people waiting" in mail.outbox[-1].subject


def test_zero_without_anyone_waiting_is_only_a_low_alert(admins):
    EBookFactory(total_count=10, available_count=0)
    stock_alerts_check()
    assert list(StockAlert.objects.values_list("kind", flat=True)) == ["low"]


def test_free_and_gone_books_never_alert(admins):
    EBookFactory(free=True)
    EBookFactory(gone=True, total_count=10, available_count=0)
    assert stock_alerts_check() == []


def test_a_mail_failure_is_recorded_and_raised_for_the_retry(admins, monkeypatch):
    book = EBookFactory(total_count=100, available_count=1)
    [alert_id] = stock_alerts_check()

    def refuse(*args, **kwargs):
        raise SMTPException("relay refused")

    monkeypatch.setattr("reports.services.send_mail", refuse)
    with pytest.raises(SMTPException):
        stock_alert_mail(alert_id=alert_id)
    alert = StockAlert.objects.get(pk=alert_id)
    assert alert.mail_state == "failed" and "relay refused" in alert.mail_error
    assert alert.ebook == book


def test_a_sent_alert_is_never_mailed_twice(admins):
    EBookFactory(total_count=100, available_count=1)
    [alert_id] = stock_alerts_check()
    stock_alert_mail(alert_id=alert_id)
    stock_alert_mail(alert_id=alert_id)  # a retried task after a lost acknowledgement
    assert len(mail.outbox) == 1


def test_the_mail_task_retries_on_mail_errors():
    from reports.tasks import stock_alert_send

    assert SMTPException in stock_alert_send.autoretry_for
    assert stock_alert_send.max_retries >= 3


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
