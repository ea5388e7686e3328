"""manage.py seed_scale [--scale F]: add DESIGN.md's large district to the configured database."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from sync.seed_scale import district_seed


class Command(BaseCommand):
    help = (
        "Add a large district (5 tokens, 2,000 books, 300,000 people, 5,000 groups, 700,000 "
        "memberships, 400,000 devices, 1,000,000 licenses at scale 1) for benchmarks."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=float, default=1.0, help="Fraction of the full size (default 1)."
        )

    def handle(self, *args, scale: float, **options):
        if not 0 < scale <= 10:
            raise CommandError("--scale must be above 0 and at most 10.")
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stdout.write(f"{time.monotonic() - started:7.1f} s  {message}")

        sizes = district_seed(scale=scale, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {sizes.people} people and {sizes.licenses} licenses "
                f"in {time.monotonic() - started:.0f} s."
            )
        )
