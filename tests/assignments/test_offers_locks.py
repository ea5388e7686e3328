"""Planning a book again leaves its unchanged offers alone: not even a row lock (PostgreSQL)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from assignments import license_records as records
from assignments.models import BookOffer
from tests.factories import EBookFactory, PersonFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_unchanged_offers_are_not_locked_by_a_new_plan():
    if connection.vendor != "postgresql":
        pytest.skip("row locks of an upsert: PostgreSQL")
    ebook, person = EBookFactory(), PersonFactory()
    records.offers_record(ebook=ebook, person_intents={person.pk: "available"})
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
    ) as other:
        # Another transaction holds the offer's row (an upsert that met it would wait).
        other.execute(f"SELECT 1 FROM {BookOffer._meta.db_table} FOR UPDATE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            assert records.offers_record(ebook=ebook, person_intents={person.pk: "available"}) == 0
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
