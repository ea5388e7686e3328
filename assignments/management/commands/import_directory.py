"""Import people, user groups and devices from CSV files (same checks as the admin page)."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assignments.directory_import import columns_help, directory_import


class Command(BaseCommand):
    help = (
        "Import people (and optionally user groups and devices) from CSV files: UTF-8, the first "
        "line names the columns. The whole import is all-or-nothing; every problem is reported "
        "with its file and line; importing again updates instead of duplicating. When people "
        "join groups with books assigned, the licenses that would use are printed and nothing "
        "is saved without --yes."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = "Columns:\n" + columns_help()
        return parser

    def add_arguments(self, parser) -> None:
        parser.add_argument("people", type=Path, help="people.csv")
        parser.add_argument("--groups", type=Path, help="groups.csv (one row per membership)")
        parser.add_argument("--devices", type=Path, help="devices.csv")
        parser.add_argument(
            "--yes",
            action="store_true",
            help="I understand the book licenses this import uses can never be taken back",
        )

    def handle(self, *args, people: Path, groups, devices, yes: bool, **options):
        with ExitStack() as stack:
            files = {
                name: _open(stack, path)
                for name, path in (("people", people), ("groups", groups), ("devices", devices))
            }
            outcome = directory_import(**files, confirm_any=yes)
        for result in outcome.files:
            self.stdout.write(result.summary())
            for warning in result.warnings:
                self.stdout.write(f"  warning: {warning}")
            for error in result.errors:
                self.stderr.write(f"  {result.name} {error}")
            if result.more_errors:
                self.stderr.write(f"  {result.name}: … and {result.more_errors:,} more problems")
        if not outcome.files_ok:
            raise CommandError("Nothing was imported; fix the rows above and run again.")
        if outcome.licenses:
            self.stdout.write(outcome.confirmation_text())
            for line in outcome.license_lines:
                self.stdout.write(f"  {line}")
        if outcome.needs_confirmation:
            raise CommandError("Nothing was imported. Run again with --yes to import.")


def _open(stack: ExitStack, path: Path | None):
    if path is None:
        return None
    try:
        return stack.enter_context(path.open("rb"))
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}") from None
