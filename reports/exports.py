"""CSV exports: streamed row by row, constant memory, formula-safe cells.

Each exportable list names its columns here (values_list paths), so an export never carries a
secret (token ciphertext, invitation codes) and never runs a query per row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from django.http import StreamingHttpResponse
from django.utils import timezone

CHUNK = 2000
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

EXPORT_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "assignments.license": (
        ("license id", "pk"),
        ("book", "ebook__title"),
        ("adam id", "ebook__adam_id"),
        ("edition", "ebook__pricing_param"),
        ("token", "token__name"),
        ("person email", "person__email"),
        ("person name", "person__display_name"),
        ("state", "state"),
        ("kept", "kept"),
        ("assigned at", "assigned_at"),
        ("error number", "error_number"),
        ("error", "error_message"),
    ),
    "assignments.person": (
        ("email", "email"),
        ("name", "display_name"),
        ("external id", "external_id"),
        ("managed apple id", "managed_apple_id"),
        ("active", "active"),
        ("created at", "created_at"),
    ),
    "assignments.appleuser": (
        ("email", "email"),
        ("person email", "person__email"),
        ("token", "token__name"),
        ("status", "status"),
        ("managed", "managed"),
        ("invitation sent at", "invitation_sent_at"),
        ("error", "error"),
    ),
    "assignments.usergroup": (
        ("name", "name"),
        ("external id", "external_id"),
        ("description", "description"),
    ),
    "assignments.membership": (
        ("group", "group__name"),
        ("person email", "person__email"),
        ("added at", "added_at"),
    ),
    "assignments.device": (
        ("serial number", "serial_number"),
        ("name", "name"),
        ("model", "model"),
        ("os version", "os_version"),
        ("owner email", "owner__email"),
        ("books app", "has_books_app"),
    ),
    "assignments.groupassignment": (
        ("book", "ebook__title"),
        ("adam id", "ebook__adam_id"),
        ("group", "group__name"),
        ("intent", "intent"),
        ("cap", "cap"),
        ("created at", "created_at"),
    ),
    "assignments.installrequest": (
        ("book", "ebook__title"),
        ("device", "device__serial_number"),
        ("person email", "person__email"),
        ("state", "state"),
        ("updated at", "updated_at"),
    ),
    "ebooks.ebook": (
        ("title", "title"),
        ("author", "author"),
        ("adam id", "adam_id"),
        ("edition", "pricing_param"),
        ("token", "token__name"),
        ("total", "total_count"),
        ("assigned", "assigned_count"),
        ("available", "available_count"),
        ("retired", "retired_count"),
        ("unlimited", "unlimited"),
        ("counts as of", "counts_as_of"),
        ("gone at", "gone_at"),
    ),
    "tokens.vpptoken": (
        ("name", "name"),
        ("organisation", "org_name"),
        ("location", "location_name"),
        ("account type", "account_type"),
        ("state", "state"),
        ("expires at", "expires_at"),
        ("last sync at", "last_sync_at"),
        ("last sync ok", "last_sync_ok"),
        ("books", "book_count"),
    ),
    "sync.syncrun": (
        ("token", "token__name"),
        ("trigger", "trigger"),
        ("state", "state"),
        ("books added", "books_added"),
        ("books updated", "books_updated"),
        ("licenses seen", "licenses_seen"),
        ("error", "error_message"),
    ),
    "reports.stockalert": (
        ("book", "ebook__title"),
        ("kind", "kind"),
        ("available", "available"),
        ("waiting", "waiting"),
        ("raised at", "raised_at"),
        ("cleared at", "cleared_at"),
        ("mail", "mail_state"),
    ),
}


def cell(value) -> str | int | float:
    """One CSV cell: dates in ISO 8601, text that a spreadsheet would run as a formula defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV text in pieces of CHUNK rows: memory stays flat however long the export."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([cell(name) for name in header])  # BOM: Excel reads UTF-8
    buffer = []
    for row in rows:
        buffer.append(writer.writerow([cell(value) for value in row]))
        if len(buffer) >= CHUNK:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)


def csv_response(*, filename: str, header: Iterable[str], rows: Iterable[Iterable]):
    """A streamed CSV download: the first bytes leave before the last row is read."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


def queryset_rows(queryset, columns: tuple[tuple[str, str], ...]) -> Iterator[tuple]:
    """Rows of the columns, read from the database CHUNK at a time (server-side cursor)."""
    return queryset.values_list(*(path for _, path in columns)).iterator(chunk_size=CHUNK)
