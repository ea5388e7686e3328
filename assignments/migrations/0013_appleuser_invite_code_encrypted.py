"""Invitation codes are secrets: encrypt those already stored in clear (VPP_TOKEN_KEY)."""

from django.db import migrations

import tokens.fields
from tokens.crypto import decrypt, encrypter

BATCH = 2000


def encrypt_stored_codes(apps, schema_editor):
    _rewrite_codes(apps, schema_editor, encrypter())


def decrypt_stored_codes(apps, schema_editor):
    _rewrite_codes(apps, schema_editor, decrypt)


def _rewrite_codes(apps, schema_editor, convert):
    # Raw SQL: the historical model's field would decrypt (or encrypt) what it reads.
    table = apps.get_model("assignments", "AppleUser")._meta.db_table
    connection = schema_editor.connection
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, invite_code FROM {table} "  # noqa: S608 - our table name
                "WHERE id > %s AND invite_code <> '' ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany(
                f"UPDATE {table} SET invite_code = %s WHERE id = %s",  # noqa: S608
                [(convert(code), pk) for pk, code in rows],
            )
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("assignments", "0012_license_pending_event_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="appleuser",
            name="invite_code",
            field=tokens.fields.EncryptedTextField(blank=True),
        ),
        # Backwards, the codes are decrypted before the column narrows again.
        migrations.RunPython(encrypt_stored_codes, decrypt_stored_codes),
    ]
