"""simulate_devices' device side, driven step by step against the real API."""

from __future__ import annotations

import io
import random

import pytest

from api.device_simulator import FAILURE_REASONS, DeviceSimulator
from assignments.models import InstallRequest, License
from tests.factories import DeviceFactory, EBookFactory, LicenseFactory, PersonFactory

pytestmark = pytest.mark.django_db


def _transport(client):
    def call(method, path, body):
        url = path if path.startswith("http") else f"/api/v1/{path}"
        response = client.get(url) if method == "GET" else client.post(url, body, format="json")
        return response.status_code, response.json()

    return call


@pytest.fixture
def installs():
    requests = []
    for _ in range(3):
        person = PersonFactory()
        book = EBookFactory()
        LicenseFactory(ebook=book, person=person, state=License.State.ASSIGNED)
        device = DeviceFactory(owner=person)
        requests.append(InstallRequest.objects.create(device=device, ebook=book, person=person))
    return requests


def test_installs_go_queued_installing_installed(installs, device_api):
    simulator = DeviceSimulator(transport=_transport(device_api), failure_rate=0)
    seen = []
    for _ in range(4):
        simulator.step()
        seen.append(set(InstallRequest.objects.values_list("state", flat=True)))
    assert seen == [{"queued"}, {"installing"}, {"installed"}, {"installed"}]
    assert set(InstallRequest.objects.values_list("device_state", flat=True)) == {"Installed"}


def test_failures_carry_one_of_apples_reasons(installs, device_api):
    simulator = DeviceSimulator(
        transport=_transport(device_api), failure_rate=1, rng=random.Random(1)
    )
    for _ in range(3):
        simulator.step()
    for request in InstallRequest.objects.all():
        assert request.state == InstallRequest.State.FAILED
        assert request.reason in FAILURE_REASONS


def test_books_not_yet_licensed_are_left_alone(installs, device_api):
    License.objects.filter(ebook=installs[0].ebook).update(state=License.State.PENDING)
    simulator = DeviceSimulator(transport=_transport(device_api), failure_rate=0)
    for _ in range(3):
        simulator.step()
    installs[0].refresh_from_db()
    assert installs[0].state == InstallRequest.State.PENDING
    assert InstallRequest.objects.filter(state="installed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_simulate_devices_command_completes_installs_over_http(live_server):
    from django.core.management import call_command

    from api.models import ApiKey

    person = PersonFactory()
    book = EBookFactory()
    LicenseFactory(ebook=book, person=person, state=License.State.ASSIGNED)
    request = InstallRequest.objects.create(
        device=DeviceFactory(owner=person), ebook=book, person=person
    )
    call_command(
        "simulate_devices",
        url=f"{live_server.url}/api/v1",
        steps=3,
        interval=0,
        failure_rate=0,
        stdout=io.StringIO(),
    )
    request.refresh_from_db()
    assert request.state == InstallRequest.State.INSTALLED
    # It issued itself a device-channel key: the only scope it needs.
    assert ApiKey.objects.get(revoked_at=None).scope == ApiKey.Scope.DEVICE
