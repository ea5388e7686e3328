"""Book list: availability, assigned and waiting filters, holders link; license book filter."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from ebooks.models import EBook
from ebooks.selectors import ebook_is_low, ebook_stock_q
from tests.factories import EBookFactory, LicenseFactory, PersonFactory

pytestmark = pytest.mark.django_db
BOOKS = reverse("admin:ebooks_ebook_changelist")
LICENSES = reverse("admin:assignments_license_changelist")


def _titles(html: str) -> set[str]:
    return set(re.findall(r'<td class="field-title_display"><a href="[^"]+">([^<]+)</a>', html))


def test_availability_filters_split_the_catalogue_with_no_overlap(district):
    levels = {
        level: set(EBook.objects.filter(ebook_stock_q(level=level)).values_list("title", flat=True))
        for level in ("none", "low", "plenty")
    }
    assert levels["none"] == {"Empty Book"}
    assert levels["low"] == {"Low Book", "Custom Book", "Gone Book"}
    assert levels["plenty"] == {"Plenty Book", "Free Book"}
    every = set(EBook.objects.values_list("title", flat=True))
    assert levels["none"] | levels["low"] | levels["plenty"] == every
    # The in-memory rule (alerts) agrees with the SQL one (lists) book by book.
    for book in EBook.objects.select_related("stock_threshold"):
        threshold = getattr(getattr(book, "stock_threshold", None), "low_below", None)
        assert ebook_is_low(ebook=book, low_below=threshold) == (book.title in levels["low"])


def test_book_list_filters_by_availability(district, viewer_client):
    html = viewer_client.get(BOOKS, {"stock": "low", "present": "yes"}).content.decode()
    assert _titles(html) == {"Low Book", "Custom Book"}
    html = viewer_client.get(BOOKS, {"stock": "none"}).content.decode()
    assert _titles(html) == {"Empty Book"}


def test_book_list_filters_by_assigned_or_not(district, viewer_client):
    assigned = _titles(viewer_client.get(BOOKS, {"assigned": "yes"}).content.decode())
    assert assigned == {"Low Book"}
    others = _titles(viewer_client.get(BOOKS, {"assigned": "no"}).content.decode())
    assert "Low Book" not in others and "Plenty Book" in others


def test_book_list_filters_books_with_people_waiting(district, viewer_client):
    html = viewer_client.get(BOOKS, {"waiting": "yes"}).content.decode()
    assert _titles(html) == {"Empty Book"}


def test_holders_link_opens_the_books_license_list(district, viewer_client):
    html = viewer_client.get(BOOKS).content.decode()
    link = f"{LICENSES}?ebook__id__exact={district.low.pk}&amp;state__in=assigned,pending"
    assert link in html
    holders = viewer_client.get(link.replace("&amp;", "&")).content.decode()
    assert "alice@x.example" in holders
    assert "By book" in holders and "Low Book" in holders


def test_license_list_searches_by_book_title(viewer_client):
    LicenseFactory(ebook=EBookFactory(title="Zebra Tales"), person=PersonFactory(email="a@x.ex"))
    LicenseFactory(ebook=EBookFactory(title="Apple Pie"), person=PersonFactory(email="b@x.ex"))
    html = viewer_client.get(LICENSES, {"q": "zebra"}).content.decode()
    assert "a@x.ex" in html and "b@x.ex" not in html


def test_license_book_filter_does_not_list_the_whole_catalogue(viewer_client):
    books = [EBookFactory(title=f"Catalogue {i}") for i in range(30)]
    LicenseFactory(ebook=books[0])
    html = viewer_client.get(LICENSES).content.decode()
    assert "By book" in html
    assert "Catalogue 29" not in html
