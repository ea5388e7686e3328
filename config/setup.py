"""First-start set-up shared by `make run` and the tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from config.roles import PORTAL_ADMINS


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str | None  # None when the account existed before and its password is unknown


def _password_file():
    return settings.VAR_DIR / "admin-login.txt"


def admin_ensure(*, username: str = "admin") -> AdminLogin:
    """Create the first superuser once; later calls return the login recorded at creation."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is not None:
        recorded = _password_file()
        if recorded.is_file() and user.check_password(recorded.read_text().strip()):
            return AdminLogin(username=username, password=recorded.read_text().strip())
        return AdminLogin(username=username, password=None)
    password = secrets.token_urlsafe(12)
    user = user_model.objects.create_superuser(username=username, email="", password=password)
    user.groups.add(Group.objects.get(name=PORTAL_ADMINS))
    recorded = _password_file()
    recorded.parent.mkdir(parents=True, exist_ok=True)
    recorded.touch(mode=0o600)
    recorded.write_text(password + "\n")
    return AdminLogin(username=username, password=password)
