"""First-start set-up shared by `make run` and the tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test.utils import override_settings

from config.roles import PORTAL_ADMINS


@dataclass(frozen=True)
class AdminLogin:
    username: str
    email: str
    password: str | None  # None when the account existed before and its password is unknown


def admin_email(*, username: str = "admin") -> str:
    """The first admin's email address, or "" when the account is new or has none."""
    user = get_user_model().objects.filter(username=username).only("email").first()
    return user.email if user is not None else ""


def _password_file():
    return settings.VAR_DIR / "admin-login.txt"


def admin_ensure(*, username: str = "admin", email: str = "") -> AdminLogin:
    """Create the first superuser once; later calls return the login recorded at creation.

    An email given later is added to an admin that has none, so alerts reach somebody.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is not None:
        if email and not user.email:
            user.email = email
            user.save(update_fields=["email"])
        recorded = _password_file()
        if recorded.is_file() and user.check_password(recorded.read_text().strip()):
            password = recorded.read_text().strip()
            return AdminLogin(username=username, email=user.email, password=password)
        return AdminLogin(username=username, email=user.email, password=None)
    password = secrets.token_urlsafe(12)
    user = user_model.objects.create_superuser(username=username, email=email, password=password)
    user.groups.add(Group.objects.get(name=PORTAL_ADMINS))
    recorded = _password_file()
    recorded.parent.mkdir(parents=True, exist_ok=True)
    recorded.touch(mode=0o600)
    recorded.write_text(password + "\n")
    return AdminLogin(username=username, email=email, password=password)


DEMO_ORG = "Springfield Public Schools"
DEMO_LOCATION = "Central Library"
DEMO_APPLE_ID = "books@springfield.example"


def simulator_state_path():
    """Where `make run`'s simulator keeps its state (the Procfile passes the same path)."""
    return settings.VAR_DIR / "simulator.state"


def _points_at_loopback(url: str) -> bool:
    return urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


def demo_token_ensure() -> str | None:
    """On a first start against the local simulator, issue a demo token and import it.

    The simulator runs in this process just long enough to answer the import, on a free port and
    with the state file `make run`'s simulator loads next, so the claim is already in place.
    Returns the imported token's name, or None when there was nothing to do.
    """
    from apple.simulator import Simulator
    from tokens.models import VppToken
    from tokens.services import token_import

    if VppToken.objects.exists() or not _points_at_loopback(settings.VPP_SERVICE_URL):
        return None
    simulator = Simulator(state_path=simulator_state_path(), event_delay=1.0)
    simulator.start(port=0)
    try:
        content = simulator.issue_token(org=DEMO_ORG, location=DEMO_LOCATION)
        with override_settings(
            VPP_SERVICE_URL=simulator.api_url, VPP_STORE_LOOKUP_URL=simulator.lookup_url
        ):
            token = token_import(
                file_bytes=content.encode(),
                apple_id=DEMO_APPLE_ID,
                account_type="education",
                name=f"{DEMO_LOCATION} (demo)",
            )
    finally:
        simulator.stop()
    # Books on the first page view: the worker syncs as soon as it and the simulator are up.
    from sync.models import SyncRun
    from sync.services import sync_request

    sync_request(token=token, trigger=SyncRun.Trigger.MANUAL)
    return token.name


def demo_directory_ensure() -> str | None:
    """On a first start with an empty directory, import the demo people, groups and devices.

    Returns a one-line summary, or None when the directory already had people.
    """
    from pathlib import Path

    from assignments.directory_import import directory_import
    from assignments.models import Person

    if Person.objects.exists():
        return None
    folder = Path(__file__).resolve().parent.parent / "assignments" / "demo"
    outcome = directory_import(
        people=(folder / "people.csv").read_bytes(),
        groups=(folder / "groups.csv").read_bytes(),
        devices=(folder / "devices.csv").read_bytes(),
    )
    if not outcome.ok:
        errors = [f"{r.name} {e}" for r in outcome.files for e in r.errors[:5]]
        raise RuntimeError("The demo directory did not import: " + "; ".join(errors))
    return " ".join(result.summary() for result in outcome.files)
