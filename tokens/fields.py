"""A text column kept encrypted at rest with the token keys (VPP_TOKEN_KEY).

For secrets other than the token itself that the portal must read back in clear, such as
Apple's invitation codes: the ORM encrypts on write and decrypts on read, so code that reads
the attribute sees the secret and the database never holds it.
"""

from __future__ import annotations

import logging

from django.db import models

from tokens.crypto import TokenKeyError, decrypt, encrypt

logger = logging.getLogger(__name__)


class EncryptedTextField(models.TextField):
    """Stored as a Fernet token; "" stays "" so blank means "none" in SQL too.

    A value no configured key can open reads as "" (logged, never raised): the page still
    renders and the next sync stores the secret again from Apple.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except TokenKeyError:
            logger.warning(
                "An encrypted %s.%s value cannot be decrypted with VPP_TOKEN_KEY; read as blank",
                self.model._meta.label,
                self.name,
            )
            return ""
