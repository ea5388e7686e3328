"""Run a sync now, in the foreground, printing progress; exit code 1 when any run failed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sync.models import SyncRun
from sync.services import sync_request, sync_run_execute
from tokens.models import VppToken


class Command(BaseCommand):
    help = "Sync books, license counts, our users and their licenses from Apple, now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--token", type=int, help="only this token id (default: all)")
        parser.add_argument("--full", action="store_true", help="re-read everything, not changes")

    def handle(self, *args, token: int | None, full: bool, **options) -> None:
        tokens = VppToken.objects.order_by("pk")
        if token is not None:
            tokens = tokens.filter(pk=token)
            if not tokens.exists():
                raise CommandError(f"There is no token with id {token}.")
        if not tokens.exists():
            raise CommandError("There are no tokens yet: upload one first (vpp_import_token).")
        failures = []
        for each in tokens:
            request = sync_request(
                token=each, trigger=SyncRun.Trigger.COMMAND, full=full, enqueue=False
            )
            if not request.created:
                failures.append(each)
                self.stderr.write(
                    f"{each}: a sync is already {request.run.get_state_display().lower()}."
                )
                continue
            self.stdout.write(f"Syncing {each} ({'full' if full else 'changes since last sync'})")
            run = sync_run_execute(run_id=request.run.pk, on_progress=self._progress)
            self.stdout.write("")
            if run.state == SyncRun.State.SUCCEEDED:
                self.stdout.write(self.style.SUCCESS(f"  done: {run.token.last_sync_summary}"))
            else:
                failures.append(each)
                self.stderr.write(f"  {run.get_state_display()}: {run.error_message}")
            self.stdout.write(f"  Apple requests: {run.apple_requests}")
        if failures:
            raise CommandError(f"{len(failures)} sync(s) did not succeed.")

    def _progress(self, run: SyncRun) -> None:
        total = f"/{run.progress_total}" if run.progress_total else ""
        ignored = run.foreign_users_ignored + run.foreign_licenses_ignored
        self.stdout.write(
            f"\r  {run.get_phase_display()}: {run.progress_done}{total}"
            f"  (books +{run.books_added} ~{run.books_updated}, licenses {run.licenses_seen}, "
            f"users {run.users_seen}, ignored {ignored})",
            ending="",
        )
