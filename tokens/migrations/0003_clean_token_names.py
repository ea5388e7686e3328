"""Tokens imported before names were cleaned: one printable line each (they go into email
subjects, where a newline breaks the message)."""

from __future__ import annotations

from django.db import migrations

from tokens.parsing import clean_line


def clean_names(apps, schema_editor) -> None:
    VppToken = apps.get_model("tokens", "VppToken")
    for token in VppToken.objects.only("pk", "name", "org_name", "location_name").iterator():
        cleaned = {
            field: clean_line(getattr(token, field))
            for field in ("name", "org_name", "location_name")
        }
        if any(getattr(token, field) != value for field, value in cleaned.items()):
            VppToken.objects.filter(pk=token.pk).update(**cleaned)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0002_token_alert_mail_state")]

    operations = [migrations.RunPython(clean_names, migrations.RunPython.noop)]
