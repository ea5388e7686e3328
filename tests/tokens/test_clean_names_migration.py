"""Tokens stored before names were cleaned get one-line names from the data migration."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from tests.factories import VppTokenFactory
from tokens.models import VppToken

pytestmark = pytest.mark.django_db


def test_migration_makes_stored_names_one_line():
    token = VppTokenFactory(org_name="Springfield\r\nBcc: x@y.z", location_name="Main\tLibrary")
    migration = importlib.import_module("tokens.migrations.0003_clean_token_names")
    migration.clean_names(apps, None)
    token = VppToken.objects.get(pk=token.pk)
    assert (token.org_name, token.location_name) == ("Springfield Bcc: x@y.z", "Main Library")
