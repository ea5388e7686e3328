"""Bring a fresh or existing install up to date: migrate, and make sure an admin can sign in.

`make run` calls this on every start; it is safe to run any number of times.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from config.setup import admin_ensure, demo_directory_ensure, demo_token_ensure


class Command(BaseCommand):
    help = "Migrate and create the first admin account once, printing its login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--no-demo", action="store_true", help="do not import the demo token on first start"
        )

    def handle(self, *args, username: str, no_demo: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        login = admin_ensure(username=username)
        if not no_demo and (name := demo_token_ensure()):
            self.stdout.write(f"Imported the demo token “{name}” from the local simulator.")
        if not no_demo and (summary := demo_directory_ensure()):
            self.stdout.write(f"Imported the demo directory: {summary}")
        line = "=" * 64
        self.stdout.write(line)
        self.stdout.write("Shelfkeeper admin: http://127.0.0.1:8000/admin/")
        self.stdout.write(f"  username: {login.username}")
        if login.password:
            self.stdout.write(f"  password: {login.password}")
        else:
            self.stdout.write("  password: (set by you; not stored by Shelfkeeper)")
        self.stdout.write(line)
