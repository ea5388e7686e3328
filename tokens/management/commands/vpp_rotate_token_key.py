"""Re-encrypt stored tokens with the first key of VPP_TOKEN_KEY (key rotation)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tokens.crypto import TokenKeyError
from tokens.services import tokens_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token with the newest key. Put the new key first in "
        "VPP_TOKEN_KEY (comma-separated), run this, then remove the old key."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = tokens_reencrypt()
        except TokenKeyError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Re-encrypted {count} token(s) with the newest key.")
