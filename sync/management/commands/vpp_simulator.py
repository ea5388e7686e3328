"""`manage.py vpp_simulator`: run the local Apple simulator (same options as the plain CLI)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apple.simulator import cli


class Command(BaseCommand):
    help = (
        "Run the local simulator of Apple's App and Book Management API v2 and store look-up, "
        "or issue a .vpptoken it accepts (--issue-token), or accept an invitation."
    )
    requires_system_checks: list[str] = []  # the simulator needs no database or settings

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        names = {a.dest for a in cli.build_parser()._actions}
        namespace = argparse.Namespace(**{k: v for k, v in options.items() if k in names})
        # cli prints with print(); stop the wrapper adding a second newline to each write.
        self.stdout.ending = self.stderr.ending = ""
        code = cli.run(namespace, out=self.stdout, err=self.stderr)
        if code:
            raise CommandError(f"vpp_simulator exited with status {code}", returncode=code)
