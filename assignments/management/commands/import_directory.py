"""Import people, user groups and devices from CSV files (same checks as the admin page)."""

from __future__ import annotations

import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assignments.directory_import import columns_help, directory_import


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}") from None


class Command(BaseCommand):
    help = (
        "Import people (and optionally user groups and devices) from CSV files: UTF-8, the first "
        "line names the columns. Each file is all-or-nothing; every bad row is reported with its "
        "line number; importing again updates instead of duplicating."
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

    def handle(self, *args, people: Path, groups: Path | None, devices: Path | None, **options):
        outcome = directory_import(
            people=_read(people), groups=_read(groups), devices=_read(devices)
        )
        for result in outcome.files:
            self.stdout.write(result.summary())
            for warning in result.warnings:
                self.stdout.write(f"  warning: {warning}")
            for error in result.errors:
                self.stderr.write(f"  {result.name} {error}")
        if not outcome.ok:
            raise CommandError("Some files were not imported; fix the rows above and run again.")
