"""Reconcile licenses now, in the foreground: plan, ask Apple, follow its events to the end."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from sync.models import ReconcileRun
from sync.reconcile.foreground import Foreground
from sync.reconcile.runs import reconcile_request
from tokens.models import VppToken


class Command(BaseCommand):
    help = "Hand out the licenses the group assignments ask for, now, following Apple's events."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--token", type=int, help="only this token id (default: all)")
        parser.add_argument(
            "--wait", type=float, default=600.0, help="seconds to follow Apple's events at most"
        )

    def handle(self, *args, token: int | None, wait: float, **options) -> None:
        tokens = VppToken.objects.order_by("pk")
        if token is not None:
            tokens = tokens.filter(pk=token)
            if not tokens.exists():
                raise CommandError(f"There is no token with id {token}.")
        failures = 0
        for each in tokens:
            foreground = Foreground()
            with foreground.installed():
                request = reconcile_request(token=each, trigger=ReconcileRun.Trigger.MANUAL)
                if not request.created:
                    failures += 1
                    state = request.run.get_state_display().lower()
                    self.stderr.write(f"{each}: a reconcile is already {state}.")
                    continue
                self.stdout.write(f"Reconciling {each}")
                foreground.settle(each, deadline=time.monotonic() + wait)
            for run in ReconcileRun.objects.filter(token=each, pk__gte=request.run.pk):
                self.stdout.write(
                    f"  run {run.pk} ({run.get_trigger_display()}): {run.get_state_display()}; "
                    f"{run.licenses_requested} licenses requested, {run.licenses_assigned} "
                    f"assigned, {run.shortfall} short, {run.invitations_sent} invitations"
                )
                if run.state == ReconcileRun.State.FAILED:
                    failures += 1
                    self.stderr.write(f"  {run.error_message}")
        if failures:
            raise CommandError(f"{failures} reconcile(s) did not succeed.")
