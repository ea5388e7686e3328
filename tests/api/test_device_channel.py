"""The device channel: devices upserted, pending installs listed, reports move install states."""

from __future__ import annotations

import pytest

from assignments.models import BookOffer, Device, InstallRequest, License
from tests.factories import DeviceFactory, EBookFactory, LicenseFactory, PersonFactory

pytestmark = pytest.mark.django_db

State = InstallRequest.State
DEVICES = "/api/v1/device-channel/devices/"
PENDING = "/api/v1/device-channel/install-requests/"


def _report(serial: str) -> str:
    return f"/api/v1/device-channel/devices/{serial}/managed-media/"


@pytest.fixture
def required_install():
    """A Required book whose license the person holds, with an install pending on their iPad."""
    person = PersonFactory(external_id="S-1")
    book = EBookFactory(adam_id="1111111111")
    LicenseFactory(ebook=book, person=person, state=License.State.ASSIGNED)
    BookOffer.objects.create(person=person, ebook=book, intent="required")
    device = DeviceFactory(serial_number="IPAD0001", owner=person)
    request = InstallRequest.objects.create(device=device, ebook=book, person=person)
    return request


def test_pending_installs_list_only_books_whose_license_is_assigned(required_install, device_api):
    waiting = LicenseFactory(state=License.State.PENDING)
    other_device = DeviceFactory(owner=waiting.person)
    InstallRequest.objects.create(device=other_device, ebook=waiting.ebook, person=waiting.person)
    body = device_api.get(PENDING).json()
    assert [r["request_id"] for r in body["results"]] == [required_install.pk]
    item = body["results"][0]
    assert (item["adam_id"], item["serial_number"], item["person_external_id"]) == (
        "1111111111",
        "IPAD0001",
        "S-1",
    )
    one = device_api.get(PENDING, {"serial_number": "ipad0001"}).json()["results"]
    assert len(one) == 1
    assert device_api.get(PENDING, {"serial_number": "NOPE"}).status_code == 404


@pytest.mark.parametrize(
    ("apple_state", "reason", "state"),
    [
        ("Queued", "", State.QUEUED),
        ("Installing", "", State.INSTALLING),
        ("PromptingForLogin", "", State.INSTALLING),
        ("Installed", "", State.INSTALLED),
        ("Failed", "PurchaseNotFound", State.FAILED),
        ("Uninstalled", "", State.UNINSTALLED),
    ],
)
def test_managed_media_report_moves_the_install_state(
    required_install, device_api, apple_state, reason, state
):
    book = {"adam_id": "1111111111", "state": apple_state}
    if reason:
        book["rejection_reason"] = reason
    response = device_api.post(_report("IPAD0001"), {"books": [book]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["updated"] == 1
    required_install.refresh_from_db()
    assert (required_install.state, required_install.device_state, required_install.reason) == (
        state,
        apple_state,
        reason,
    )
    assert required_install.reported_at is not None
    # Reported again unchanged: nothing to do.
    assert device_api.post(_report("IPAD0001"), {"books": [book]}, format="json").json() == {
        "updated": 0,
        "unchanged": 1,
        "unknown_books": [],
        "not_requested": [],
    }
    if state != State.PENDING:
        assert not device_api.get(PENDING).json()["results"]


@pytest.mark.parametrize(
    ("books", "reason"),
    [
        ([{"adam_id": "1111111111", "state": "Exploded"}], "state"),
        ([{"adam_id": "not-a-number", "state": "Installed"}], "adam_id"),
        ([{"adam_id": "1111111111", "state": "Failed", "rejection_reason": "Bored"}], "reason"),
        (
            [
                {
                    "adam_id": "1111111111",
                    "state": "Installed",
                    "rejection_reason": "PurchaseNotFound",
                }
            ],
            "Failed",
        ),
        ([{"adam_id": "1111111111", "state": "Installed"}] * 2, "twice"),
        ("Installed", "books"),
        ([{"state": "Installed"}], "adam_id"),
    ],
)
def test_malformed_report_is_refused_with_the_reason_and_changes_nothing(
    required_install, device_api, books, reason
):
    response = device_api.post(_report("IPAD0001"), {"books": books}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    required_install.refresh_from_db()
    assert required_install.state == State.PENDING and not required_install.device_state


def test_unknown_device_is_refused_and_not_created(device_api):
    books = [{"adam_id": "1111111111", "state": "Installed"}]
    response = device_api.post(_report("GHOST1"), {"books": books}, format="json")
    assert response.status_code == 404
    assert "Unknown device GHOST1" in response.json()["detail"]
    assert not Device.objects.exists()


def test_unknown_books_are_reported_not_created(required_install, device_api):
    books = [
        {"adam_id": "1111111111", "state": "Installed"},
        {"adam_id": "999", "state": "Installed"},
    ]
    other = EBookFactory(adam_id="2222")
    books.append({"adam_id": other.adam_id, "state": "Installed"})
    body = device_api.post(_report("IPAD0001"), {"books": books}, format="json").json()
    assert body["unknown_books"] == ["999"]
    assert body["not_requested"] == ["2222"]
    assert body["updated"] == 1
    assert InstallRequest.objects.count() == 1


def test_device_without_books_app_shows_it_as_the_reason_until_the_app_is_back(
    required_install, device_api
):
    def upsert(has_books_app: bool):
        item = {"serial_number": "ipad0001", "has_books_app": has_books_app}
        return device_api.post(DEVICES, {"devices": [item]}, format="json")

    assert upsert(False).json() == {"created": 0, "updated": 1, "unchanged": 0}
    required_install.refresh_from_db()
    assert required_install.state == State.NO_BOOKS_APP
    assert not device_api.get(PENDING).json()["results"]
    upsert(True)
    required_install.refresh_from_db()
    assert required_install.state == State.PENDING


def test_device_upsert_sets_owner_by_email_or_external_id_and_requests_their_installs(
    required_install, device_api
):
    person = required_install.person
    person2 = PersonFactory(email="kid@springfield.example")
    items = [
        {"serial_number": "NEW1", "model": "iPad Air", "owner_external_id": "S-1"},
        {"serial_number": "NEW2", "owner_email": "KID@springfield.example", "os_version": "18.1"},
    ]
    response = device_api.post(DEVICES, {"devices": items}, format="json")
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    new1, new2 = Device.objects.get(serial_number="NEW1"), Device.objects.get(serial_number="NEW2")
    assert (new1.owner, new1.model, new2.owner, new2.os_version) == (
        person,
        "iPad Air",
        person2,
        "18.1",
    )
    # The owner's Required book, already licensed, is to be installed on the new iPad too.
    assert InstallRequest.objects.filter(device=new1, ebook=required_install.ebook).exists()
    assert device_api.post(DEVICES, {"devices": items}, format="json").json()["unchanged"] == 2


def test_device_upsert_with_unknown_owner_changes_nothing(device_api):
    items = [
        {"serial_number": "NEW1"},
        {"serial_number": "NEW2", "owner_email": "nobody@springfield.example"},
    ]
    response = device_api.post(DEVICES, {"devices": items}, format="json")
    assert response.status_code == 422
    assert "devices[1]: unknown owner nobody@springfield.example" in response.json()["detail"]
    assert not Device.objects.exists()
