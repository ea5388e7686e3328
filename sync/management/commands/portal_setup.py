"""Bring a fresh or existing install up to date: migrate, and make sure an admin can sign in.

`make run` calls this on every start; it is safe to run any number of times.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from config.env import SettingError, read_int
from sync.setup import admin_email, admin_ensure, demo_directory_ensure, demo_token_ensure

EMAIL_PROMPT = (
    "Email address of the admin account (expiry and claim alerts go there; Enter to skip): "
)


class Command(BaseCommand):
    help = "Migrate and create the first admin account once, printing its login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--email",
            default="",
            help="the admin's email address, where token alerts go (asked for when omitted)",
        )
        parser.add_argument(
            "--no-demo", action="store_true", help="do not import the demo token on first start"
        )

    def handle(self, *args, username: str, email: str, no_demo: bool, **options) -> None:
        email = _checked_email(email.strip())
        try:
            web_port = read_int("WEB_PORT", default=8000, minimum=1)
        except SettingError as error:
            raise CommandError(str(error)) from None
        call_command("migrate", interactive=False, verbosity=0)
        if not email and not admin_email(username=username) and sys.stdin.isatty():
            email = self._ask_email()
        login = admin_ensure(username=username, email=email)
        if not no_demo and (name := demo_token_ensure()):
            self.stdout.write(f"Imported the demo token “{name}” from the local simulator.")
        if not no_demo and (summary := demo_directory_ensure()):
            self.stdout.write(f"Imported the demo directory: {summary}")
        line = "=" * 64
        self.stdout.write(line)
        self.stdout.write(f"Shelfkeeper admin: http://127.0.0.1:{web_port}/admin/")
        self.stdout.write(f"  username: {login.username}")
        if login.password:
            self.stdout.write(f"  password: {login.password}")
        else:
            self.stdout.write("  password: (set by you; not stored by Shelfkeeper)")
        if login.email:
            self.stdout.write(f"  email:    {login.email} (token alerts go here)")
        else:
            self.stdout.write(
                self.style.WARNING(
                    "  email:    none, so token expiry and claim alerts reach nobody: "
                    "run `manage.py portal_setup --email you@example.org`"
                )
            )
        self.stdout.write(line)

    def _ask_email(self) -> str:
        while True:
            answer = input(EMAIL_PROMPT).strip()
            try:
                return _checked_email(answer)
            except CommandError as error:
                self.stderr.write(str(error))


def _checked_email(email: str) -> str:
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise CommandError(f"“{email}” is not an email address.") from None
    return email.lower()
