"""CSV exports: streamed, the list's own filters and search, formula-safe, no secrets."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from django.urls import reverse

from assignments.models import License
from reports.exports import cell, csv_lines
from tests.factories import AppleUserFactory, EBookFactory, LicenseFactory, PersonFactory

pytestmark = pytest.mark.django_db


def _export(client, app_label: str, model_name: str, query: str = ""):
    url = reverse("reports:changelist_export", args=[app_label, model_name])
    return client.get(f"{url}?{query}" if query else url)


def _rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("value", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_cells_that_would_run_as_formulas_are_neutralised(value):
    assert cell(value) == "'" + value


def test_ordinary_cells_pass_unchanged():
    assert cell("Moby-Dick") == "Moby-Dick"
    assert cell(-5) == -5  # a number is data, not a formula
    assert cell(None) == ""
    assert cell(True) == "yes"


def test_a_formula_in_a_title_reaches_the_file_defused(viewer_client):
    book = EBookFactory(title='=HYPERLINK("http://evil.example","x")')
    rows = _rows(_export(viewer_client, "ebooks", "ebook"))
    assert rows[0]["title"] == "'" + book.title


def test_license_export_matches_the_filtered_list_row_for_row(viewer_client):
    book, other = EBookFactory(title="Wanted"), EBookFactory(title="Other")
    held = [LicenseFactory(ebook=book) for _ in range(3)]
    LicenseFactory(ebook=book, state=License.State.FAILED)
    LicenseFactory(ebook=other)
    query = f"ebook__id__exact={book.pk}&state__in=assigned,pending"
    page = viewer_client.get(reverse("admin:assignments_license_changelist") + "?" + query)
    on_page = set(
        map(int, re.findall(r'name="_selected_action" value="(\d+)"', page.content.decode()))
    )
    if not on_page:  # read-only lists have no checkboxes: take the change links instead
        on_page = set(
            map(int, re.findall(r"/admin/assignments/license/(\d+)/change/", page.content.decode()))
        )
    exported = {
        int(row["license id"])
        for row in _rows(_export(viewer_client, "assignments", "license", query))
    }
    assert exported == on_page == {licence.pk for licence in held}


def test_export_follows_the_lists_search(viewer_client):
    LicenseFactory(person=PersonFactory(email="zed@x.example"))
    LicenseFactory(person=PersonFactory(email="amy@x.example"))
    rows = _rows(_export(viewer_client, "assignments", "license", "q=zed"))
    assert [row["person email"] for row in rows] == ["zed@x.example"]


def test_export_is_streamed(viewer_client):
    LicenseFactory()
    response = _export(viewer_client, "assignments", "license")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]


def test_a_long_export_comes_in_pieces_not_one_string():
    pieces = list(csv_lines(["n"], ([i] for i in range(5000))))
    assert len(pieces) == 4  # header, then chunks of 2,000 rows
    assert sum(piece.count("\n") for piece in pieces) == 5001


def test_apple_user_export_carries_no_invitation_code(viewer_client):
    AppleUserFactory(invite_code="SECRET-INVITE-CODE", id_hash="hash-value")
    response = _export(viewer_client, "assignments", "appleuser")
    text = b"".join(response.streaming_content).decode()
    assert "SECRET-INVITE-CODE" not in text and "hash-value" not in text


def test_token_export_carries_no_token_secret(viewer_client):
    book = EBookFactory()
    text = b"".join(_export(viewer_client, "tokens", "vpptoken").streaming_content).decode()
    assert book.token.name in text
    assert book.token.secret_ciphertext not in text


def test_changelists_have_an_export_button_with_the_current_filters(viewer_client):
    LicenseFactory()
    page = viewer_client.get(
        reverse("admin:assignments_license_changelist") + "?state__exact=failed"
    )
    assert (
        'href="/admin/reports/export/assignments/license/?state__exact=failed"'
        in page.content.decode()
    )
    people = viewer_client.get(reverse("admin:assignments_person_changelist")).content.decode()
    assert "/admin/reports/export/assignments/person/" in people


def test_export_needs_the_export_permission(viewer_client, license_viewer):
    license_viewer.groups.first().permissions.remove(Permission.objects.get(codename="export_csv"))
    assert _export(viewer_client, "assignments", "license").status_code == 403
    page = viewer_client.get(reverse("admin:assignments_license_changelist")).content.decode()
    assert "Export CSV" not in page


def test_export_needs_view_permission_on_the_list(django_user_model, client):
    from django.contrib.auth.models import Permission as P

    user = django_user_model.objects.create_user("nolists", password="x", is_staff=True)
    user.user_permissions.add(P.objects.get(codename="export_csv"))
    client.force_login(user)
    assert _export(client, "assignments", "license").status_code == 403


def test_anonymous_export_is_sent_to_the_login(client):
    response = _export(client, "assignments", "license")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_unknown_or_unexportable_lists_are_not_found(viewer_client):
    assert _export(viewer_client, "auth", "user").status_code == 404


def test_bad_filters_get_a_clear_answer_not_a_500(viewer_client):
    response = _export(viewer_client, "assignments", "license", "assigned_at__gte=not-a-date")
    assert response.status_code == 400


def test_export_cursors_are_planned_to_read_every_row():
    """A cursor planned for its first rows walked a million licenses' primary key backwards
    to skip sorting one book's 500 (PostgreSQL's cursor_tuple_fraction)."""
    from django.db import connection

    from reports.exports import queryset_rows

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    LicenseFactory.create_batch(2)
    rows = queryset_rows(License.objects.order_by("-pk"), (("State", "state"),))
    next(rows)  # the cursor is open: the export's transaction is under way
    with connection.cursor() as cursor:
        cursor.execute("SHOW cursor_tuple_fraction")
        assert cursor.fetchone()[0] == "1"
    rows.close()
