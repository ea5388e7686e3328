"""Sign-in: throttled per user and address with a cool-off, every failure recorded, and a
password reset by email through Django's own views, limited per hour."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Reset limits count in the cache: a private one, so runs and tests do not add up."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()  # local memory caches of the same name share their store across tests


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="ada", email="ada@school.example", password=PASSWORD, is_staff=True
    )


def _login(client: Client, password: str, ip: str = "10.0.0.1"):
    return client.post(
        LOGIN, {"username": "ada", "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def test_too_many_failures_lock_out_that_user_from_that_address(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200  # the form again, with its error
    assert _login(client, "wrong").status_code == 429  # the last allowed failure locks
    locked = _login(client, PASSWORD)  # now even the right password is refused
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not blocked by someone guessing from elsewhere.
    assert _login(Client(), PASSWORD, ip="10.0.0.2").status_code == 302


def test_every_failure_is_recorded_with_the_address(staff, caplog):
    client = Client()
    for _ in range(3):
        _login(client, "wrong", ip="10.9.8.7")
    failures = AccessFailureLog.objects.filter(username="ada")
    assert failures.count() == 3
    assert {f.ip_address for f in failures} == {"10.9.8.7"}
    assert caplog.text.count("login failure") >= 3


def test_the_lock_lifts_after_the_cool_off(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "wrong")
    assert _login(client, PASSWORD).status_code == 429
    # Drive the clock: the attempts happened longer ago than the cool-off.
    past = AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME - timedelta(1)
    AccessAttempt.objects.update(attempt_time=past)
    assert _login(client, PASSWORD).status_code == 302


def test_login_page_offers_a_password_reset(client):
    page = client.get(LOGIN).content.decode()
    assert reverse("admin_password_reset") in page


def test_password_reset_by_email_sets_a_new_password(client, staff):
    response = client.post(reverse("admin_password_reset"), {"email": "ada@school.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    assert "Shelfkeeper" in form.content.decode()  # the portal's look
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-passphrase-42", "new_password2": "a-new-long-passphrase-42"},
        follow=True,
    )
    assert done.status_code == 200
    staff.refresh_from_db()
    assert staff.check_password("a-new-long-passphrase-42")


def test_password_reset_for_an_unknown_email_says_the_same_and_sends_nothing(client):
    response = client.post(reverse("admin_password_reset"), {"email": "nobody@nowhere.example"})
    assert response.status_code == 302
    assert mail.outbox == []


def _reset(client: Client, email: str = "ada@school.example", ip: str = "10.0.0.7"):
    return client.post(reverse("admin_password_reset"), {"email": email}, REMOTE_ADDR=ip)


def test_password_resets_to_one_address_stop_sending_after_the_hourly_limit(
    client, staff, settings
):
    settings.PASSWORD_RESET_LIMIT = 2
    answers = [_reset(client, ip=f"10.0.1.{n}") for n in range(4)]  # four networks
    assert [a.status_code for a in answers] == [302] * 4  # the same answer every time
    assert len(mail.outbox) == 2


def test_password_resets_from_one_network_are_refused_plainly_after_the_limit(
    client, staff, settings
):
    settings.PASSWORD_RESET_LIMIT = 2
    for n in range(2):
        assert _reset(client, email=f"someone{n}@school.example").status_code == 302
    refused = _reset(client)
    assert refused.status_code == 429
    assert "Too many password reset requests" in refused.content.decode()
    assert mail.outbox == []


def test_password_reset_still_works_when_the_cache_is_down(client, staff, monkeypatch):
    class CacheDown:
        def add(self, *args, **kwargs):
            raise ConnectionError("cache down")

    monkeypatch.setattr("config.password_reset.cache", CacheDown())
    assert _reset(client).status_code == 302
    assert len(mail.outbox) == 1
