"""Apple's notifications: registered with a hashed secret, checked, stored raw once, applied."""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from assignments.models import AppleUser, GroupAssignment, License
from assignments.services import group_assignment_create
from ebooks.models import EBook
from sync.models import AppleNotification, NotificationEndpoint, ReconcileRun
from sync.reconcile import queue
from sync.reconcile.follow import INVITATION_POLL, events_follow_up
from sync.reconcile.notifications import notification_apply, notifications_apply_pending
from tests.factories import PersonFactory, UserGroupFactory
from tokens.crypto import decrypt

pytestmark = pytest.mark.django_db
State = License.State


@pytest.fixture
def applied(monkeypatch):
    """Notifications stored by the endpoint, by pk, for the test to apply."""
    stored: list[int] = []
    monkeypatch.setattr(
        queue, "notification_enqueue", lambda *, notification_id: stored.append(notification_id)
    )
    return stored


@pytest.fixture
def public(settings, apple):
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    apple.notifier.deliver = False  # the test posts what Apple would send
    return settings


@pytest.fixture
def synced(apple, vpp_token, sync_now):
    sync_now(vpp_token)
    return vpp_token


def _location(apple, token):
    return apple.location(decrypt(token.secret_ciphertext))


def _book(token):
    return EBook.objects.filter(token=token, unlimited=False, available_count__gte=20).first()


def _post(client, token, envelope, secret):
    return client.post(
        reverse("sync:apple_notification", args=[token.pk]),
        data=json.dumps(envelope),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"} if secret is not None else {},
    )


def _deliver(client, apple, token, applied, *, kinds=None):
    """Post every notification the simulator queued for the token, as Apple would, then apply."""
    secret = _location(apple, token).settings["notificationAuthToken"]
    while apple.notifier.sent:
        envelope = apple.notifier.sent.popleft()
        if kinds is None or envelope["notificationType"] in kinds:
            assert _post(client, token, envelope, secret).status_code == 200
    while applied:
        notification_apply(notification_id=applied.pop(0))


def test_registration_keeps_only_a_hash_of_the_secret(reconciler, public, apple, synced):
    reconciler.drive(synced)
    endpoint = NotificationEndpoint.objects.get(token=synced)
    settings = _location(apple, synced).settings
    assert settings["notificationUrl"] == (
        f"http://127.0.0.1:8000/apple/notifications/{synced.pk}/"
    )
    assert set(settings["subscribedNotificationTypes"]) >= {"ASSET_COUNT", "USER_ASSOCIATED"}
    secret = settings["notificationAuthToken"]
    assert endpoint.auth_token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(list(NotificationEndpoint.objects.values()), default=str)
    assert [n["notificationType"] for n in apple.notifier.sent] == ["TEST_NOTIFICATION"]


def test_test_notification_marks_the_endpoint_verified(
    reconciler, public, apple, synced, client, applied
):
    reconciler.drive(synced)
    _deliver(client, apple, synced, applied)
    endpoint = NotificationEndpoint.objects.get(token=synced)
    assert endpoint.verified_at is not None and endpoint.last_received_at is not None


def test_without_public_url_the_token_page_says_notifications_are_off(
    reconciler, apple, synced, operator_client
):
    reconciler.drive(synced)
    assert not NotificationEndpoint.objects.filter(registered_at__isnull=False).exists()
    page = operator_client.get(reverse("admin:tokens_vpptoken_change", args=[synced.pk]))
    assert "Off: the portal&#x27;s public URL (PUBLIC_URL) is not set" in page.content.decode()


@pytest.mark.parametrize("secret", [None, "wrong", ""])
def test_bad_or_missing_bearer_is_refused_and_nothing_stored(
    reconciler, public, apple, synced, client, secret
):
    reconciler.drive(synced)
    envelope = {"notificationId": "n1", "notificationType": "TEST_NOTIFICATION"}
    response = _post(client, synced, envelope, secret)
    assert response.status_code == 401
    assert not AppleNotification.objects.exists()


def test_unknown_token_and_bad_bodies_get_a_clear_answer(reconciler, public, apple, synced, client):
    reconciler.drive(synced)
    secret = _location(apple, synced).settings["notificationAuthToken"]
    url = reverse("sync:apple_notification", args=[synced.pk + 99])
    assert client.post(url, data="{}", content_type="application/json").status_code == 401
    bad = client.post(
        reverse("sync:apple_notification", args=[synced.pk]),
        data="[not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
    assert client.get(reverse("sync:apple_notification", args=[synced.pk])).status_code == 405
    assert not AppleNotification.objects.exists()


def test_duplicates_are_stored_and_applied_once(reconciler, public, apple, synced, client, applied):
    reconciler.drive(synced)
    secret = _location(apple, synced).settings["notificationAuthToken"]
    book = _book(synced)
    envelope = {
        "notificationId": "dup-1",
        "notificationType": "ASSET_COUNT",
        "notification": {"adamId": book.adam_id, "pricingParam": "STDQ", "countDelta": 5},
    }
    for _ in range(3):
        assert _post(client, synced, envelope, secret).status_code == 200
    assert AppleNotification.objects.count() == 1
    for pk in applied * 2:
        notification_apply(notification_id=pk)
    refreshed = EBook.objects.get(pk=book.pk)
    assert refreshed.total_count == book.total_count + 5
    assert refreshed.available_count == book.available_count + 5


def test_a_count_that_makes_no_sense_is_read_again_from_apple(
    reconciler, public, apple, synced, client, applied
):
    reconciler.drive(synced)
    secret = _location(apple, synced).settings["notificationAuthToken"]
    book = _book(synced)
    envelope = {
        "notificationId": "big-drop",
        "notificationType": "ASSET_COUNT",
        "notification": {"adamId": book.adam_id, "pricingParam": "STDQ", "countDelta": -(10**6)},
    }
    _post(client, synced, envelope, secret)
    notification_apply(notification_id=applied.pop())
    refreshed = EBook.objects.get(pk=book.pk)
    apple_side = apple.asset(decrypt(synced.secret_ciphertext), book.adam_id, "STDQ")
    assert refreshed.total_count == apple_side["totalCount"]


def test_more_licenses_while_people_wait_in_shortfall_licenses_them(
    reconciler, public, apple, synced, client, applied
):
    book = _book(synced)
    content = decrypt(synced.secret_ciphertext)
    available = apple.asset(content, book.adam_id, "STDQ")["availableCount"]
    apple.change_license_count(content, book.adam_id, "STDQ", -available)
    people = PersonFactory.create_batch(2, managed=True)
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(members=people)],
        intent=GroupAssignment.Intent.AVAILABLE,
        confirmed_irrevocable=True,
    )
    reconciler.drive(synced)
    assert License.objects.filter(ebook=book, state=State.NOT_ENOUGH).count() == 2
    apple.notifier.sent.clear()
    apple.change_license_count(content, book.adam_id, "STDQ", 5)  # bought more
    _deliver(client, apple, synced, applied, kinds={"ASSET_COUNT"})
    reconciler.settle(synced)
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }


def _invited(reconciler, synced):
    book = _book(synced)
    person = PersonFactory()
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(members=[person])],
        intent=GroupAssignment.Intent.REQUIRED,
        confirmed_irrevocable=True,
    )
    reconciler.drive(synced)
    license = License.objects.get(ebook=book, person=person)
    assert license.state == State.WAITING_INVITATION
    return license


def test_invitation_accepted_is_licensed_in_seconds_with_notifications(
    reconciler, public, apple, synced, client, applied
):
    license = _invited(reconciler, synced)
    _deliver(client, apple, synced, applied)  # the test notification: verified
    reconciler.settle(synced)
    started = time.perf_counter()
    apple.accept_invitation(AppleUser.objects.get(pk=license.apple_user_id).invite_code)
    _deliver(client, apple, synced, applied)
    reconciler.settle(synced)
    license.refresh_from_db()
    assert license.state == State.ASSIGNED
    assert time.perf_counter() - started < 5
    assert ReconcileRun.objects.filter(trigger=ReconcileRun.Trigger.NOTIFICATION).exists()


def test_invitation_accepted_is_licensed_at_the_next_follow_up_without_notifications(
    reconciler, apple, synced
):
    license = _invited(reconciler, synced)
    assert reconciler.follow_ups  # a follow-up was planned although no event is pending
    apple.accept_invitation(AppleUser.objects.get(pk=license.apple_user_id).invite_code)
    events_follow_up(token=synced, now=timezone.now() + INVITATION_POLL)
    reconciler.settle(synced)
    license.refresh_from_db()
    assert license.state == State.ASSIGNED


def test_outcome_arriving_before_the_event_id_is_stored_is_applied(
    reconciler, public, apple, synced, client, applied, monkeypatch
):
    from sync.reconcile import outbox

    book = _book(synced)
    people = PersonFactory.create_batch(2, managed=True)
    group_assignment_create(
        ebook=book,
        groups=[UserGroupFactory(members=people)],
        intent=GroupAssignment.Intent.AVAILABLE,
        confirmed_irrevocable=True,
    )
    real = outbox.license_request_answered

    def notifications_first(**kwargs):
        # Apple's ASSET_MANAGEMENT lands before we record the event id.
        _deliver(client, apple, synced, applied, kinds={"ASSET_MANAGEMENT"})
        return real(**kwargs)

    monkeypatch.setattr(outbox, "license_request_answered", notifications_first)
    result = reconciler.drive(synced)
    assert set(License.objects.filter(ebook=book).values_list("state", flat=True)) == {
        State.ASSIGNED
    }
    assert result.licenses_assigned == 2  # counted once, though told twice
    assert AppleNotification.objects.filter(notification_type="ASSET_MANAGEMENT").exists()


def test_a_flood_of_notifications_is_applied_with_bounded_memory(public, apple, synced):
    body = json.dumps(
        {
            "notificationId": "x",
            "notificationType": "USER_ASSOCIATED",
            "notification": {
                "associatedUsers": [{"clientUserId": "other-product-1", "status": "Associated"}]
            },
        }
    )
    AppleNotification.objects.bulk_create(
        [
            AppleNotification(
                token=synced,
                notification_id=str(uuid.uuid4()),
                notification_type="USER_ASSOCIATED",
                body=body,
            )
            for _ in range(10_000)
        ],
        batch_size=2000,
    )
    tracemalloc.start()
    started = time.perf_counter()
    applied = 0
    while batch := notifications_apply_pending(limit=1000):
        applied += batch
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert applied == 10_000
    assert not AppleNotification.objects.filter(processed_at__isnull=True).exists()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB over {elapsed:.1f} s"
