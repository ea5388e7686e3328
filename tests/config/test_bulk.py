"""rows_upsert: many rows in one statement, with the model's defaults and a conflict target."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from config.bulk import rows_upsert
from ebooks.models import EBook
from tests.factories import VppTokenFactory

pytestmark = pytest.mark.django_db


def _book(token, adam_id: str, total: int) -> dict:
    return {
        "token": token.pk,
        "adam_id": adam_id,
        "pricing_param": "STDQ",
        "total_count": total,
        "last_synced_at": connection.ops.adapt_datetimefield_value(timezone.now()),
    }


def test_rows_left_out_fields_get_the_model_defaults():
    token = VppTokenFactory()
    before = timezone.now()

    rows_upsert(
        EBook,
        conflict=("token", "adam_id", "pricing_param"),
        update=(),
        rows=[
            _book(token, "1", 5),
            _book(token, "2", 7),
        ],
    )

    books = {b.adam_id: b for b in EBook.objects.filter(token=token)}
    assert {a: b.total_count for a, b in books.items()} == {"1": 5, "2": 7}
    book = books["1"]
    assert (book.title, book.cover, book.unlimited, book.assigned_count) == ("", None, False, 0)
    assert book.first_seen_at >= before  # auto_now_add


def test_a_conflicting_row_updates_only_the_named_fields():
    token = VppTokenFactory()
    conflict = ("token", "adam_id", "pricing_param")
    rows_upsert(EBook, conflict=conflict, update=(), rows=[_book(token, "1", 5)])
    EBook.objects.filter(adam_id="1").update(title="Kept")

    rows_upsert(EBook, conflict=conflict, update=("total_count",), rows=[_book(token, "1", 9)])
    rows_upsert(EBook, conflict=conflict, update=(), rows=[_book(token, "1", 11)])  # DO NOTHING

    book = EBook.objects.get(token=token, adam_id="1")
    assert (book.total_count, book.title) == (9, "Kept")
    assert EBook.objects.filter(token=token).count() == 1


def test_text_with_array_syntax_and_odd_bytes_reads_back_exactly():
    """PostgreSQL gets the rows as arrays: quotes, commas, braces, backslashes, newlines and
    non-ASCII text in a value must not be read as array syntax."""
    token = VppTokenFactory()
    odd = ['a"b', "c,d", "{e}", "f\\g", "h\ni", "NULL", "", "ü 書"]
    rows = [{**_book(token, str(n), n), "title": title} for n, title in enumerate(odd)]

    rows_upsert(EBook, conflict=("token", "adam_id", "pricing_param"), update=(), rows=rows)

    titles = dict(EBook.objects.filter(token=token).values_list("adam_id", "title"))
    assert titles == {str(n): title for n, title in enumerate(odd)}
