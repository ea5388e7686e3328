from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS

pytest_plugins = ["tests.simulator_fixtures"]


def _user_in_role(django_user_model, role: str):
    user = django_user_model.objects.create_user(
        username=role.lower().replace(" ", "-"), password="pw-for-tests", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def portal_admin(django_user_model):
    return _user_in_role(django_user_model, PORTAL_ADMINS)


@pytest.fixture
def operator(django_user_model):
    return _user_in_role(django_user_model, OPERATORS)


@pytest.fixture
def license_viewer(django_user_model):
    return _user_in_role(django_user_model, LICENSE_VIEWERS)


def _client_for(user):
    # A client of its own per role, so one test can act as several people.
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def portal_admin_client(portal_admin):
    return _client_for(portal_admin)


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def viewer_client(license_viewer):
    return _client_for(license_viewer)


@pytest.fixture
def live_worker():
    """A real Celery worker consuming from the configured broker, in a thread."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.control.purge()  # tasks other tests queued (and nobody ran) are not this test's business
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture
def apple(simulator, settings):
    """The portal pointed at a fresh simulator (the demo catalogue)."""
    from apple.client import clear_service_config_cache

    settings.VPP_SERVICE_URL = simulator.api_url
    settings.VPP_STORE_LOOKUP_URL = simulator.lookup_url
    settings.VPP_ARTWORK_HOSTS = [*settings.VPP_ARTWORK_HOSTS, "127.0.0.1"]  # its covers
    clear_service_config_cache()
    yield simulator
    clear_service_config_cache()


@pytest.fixture
def token_file(apple):
    """Issue a token file for a location of the simulator: bytes as uploaded."""

    def _issue(location: str = "Main Library", org: str = "Springfield Schools", **kwargs) -> bytes:
        return apple.issue_token(org=org, location=location, **kwargs).encode()

    return _issue


@pytest.fixture
def vpp_token(apple, token_file):
    """A token imported and claimed by the portal, for the simulator's demo location."""
    from tokens.services import token_import

    return token_import(
        file_bytes=token_file(), apple_id="books@springfield.example", account_type="education"
    )
