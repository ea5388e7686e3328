"""The eBook list: read-only, searchable, filterable, covers served by the portal."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ebooks.models import EBook

pytestmark = pytest.mark.django_db
LIST = reverse("admin:ebooks_ebook_changelist")


@pytest.fixture
def synced(apple, vpp_token):
    from sync.models import SyncRun
    from sync.services import sync_request, sync_run_execute

    run = sync_request(token=vpp_token, trigger=SyncRun.Trigger.COMMAND, enqueue=False).run
    sync_run_execute(run_id=run.pk)
    return vpp_token


@pytest.mark.parametrize("role_client", ["portal_admin_client", "operator_client", "viewer_client"])
def test_every_role_reads_the_list(request, role_client, synced):
    page = request.getfixturevalue(role_client).get(LIST).content.decode()
    assert "Moby-Dick" in page or "Moby Dick" in page
    assert "Main Library" in page  # the token column


def test_search_by_title_author_and_adam_id(portal_admin_client, synced):
    book = EBook.objects.get(title="Pride and Prejudice", pricing_param="STDQ")
    by_author = portal_admin_client.get(LIST, {"q": "Austen"}).content.decode()
    assert "Pride and Prejudice" in by_author
    assert "Moby" not in by_author
    by_id = portal_admin_client.get(LIST, {"q": book.adam_id}).content.decode()
    assert "Pride and Prejudice" in by_id


def test_filter_by_token(portal_admin_client, synced, token_file):
    from tokens.services import token_import

    other = token_import(
        file_bytes=token_file("Annex"), apple_id="a@b.example", account_type="education"
    )
    EBook.objects.create(token=other, adam_id="999", pricing_param="STDQ", title="Annex Only Book")
    page = portal_admin_client.get(LIST, {"token__id__exact": other.pk}).content.decode()
    assert "Annex Only Book" in page
    assert "Pride and Prejudice" not in page


def test_books_are_read_only(portal_admin_client, synced):
    book = EBook.objects.first()
    assert portal_admin_client.get(reverse("admin:ebooks_ebook_add")).status_code == 403
    change = portal_admin_client.get(reverse("admin:ebooks_ebook_change", args=[book.pk]))
    assert change.status_code == 200
    assert 'name="title"' not in change.content.decode()


def test_cover_is_fetched_once_and_served_by_the_portal(portal_admin_client, synced):
    book = EBook.objects.exclude(artwork_url="").first()
    url = reverse("admin:ebooks_ebook_cover", args=[book.pk])
    response = portal_admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    book.refresh_from_db()
    assert bytes(book.cover) == response.content


def test_cover_of_a_book_without_artwork_is_404(portal_admin_client, synced):
    book = EBook.objects.first()
    EBook.objects.filter(pk=book.pk).update(artwork_url="", cover=None)
    assert (
        portal_admin_client.get(reverse("admin:ebooks_ebook_cover", args=[book.pk])).status_code
        == 404
    )


def test_anonymous_cannot_fetch_covers(client, synced):
    book = EBook.objects.first()
    assert client.get(reverse("admin:ebooks_ebook_cover", args=[book.pk])).status_code == 302
