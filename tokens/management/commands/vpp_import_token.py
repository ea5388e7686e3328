"""Import a content token from the command line (same checks as the admin upload)."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tokens.models import VppToken
from tokens.parsing import MAX_FILE_BYTES
from tokens.services import token_import


class Command(BaseCommand):
    help = "Import a .vpptoken file, check it with Apple and claim its location if free."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--apple-id", required=True)
        parser.add_argument("--account-type", required=True, choices=VppToken.AccountType.values)
        parser.add_argument("--name", default="")

    def handle(self, *args, file: Path, apple_id: str, account_type: str, name: str, **options):
        try:
            with file.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        try:
            token = token_import(
                file_bytes=data, apple_id=apple_id, account_type=account_type, name=name
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"Imported token {token.pk} “{token}” ({token.get_state_display()}).")
        if token.is_claimed_elsewhere:
            self.stdout.write(token.state_reason)
