"""After a sync the eBook list shows each book's cover and title, and search narrows it."""

from __future__ import annotations

import re

import pytest
from django.db.models import Q
from playwright.sync_api import expect

from ebooks.models import EBook
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ebook_list_shows_covers_and_titles_served_by_the_portal(
    live_server, sign_in, operator, synced_token, screenshot
):
    books = EBook.objects.filter(token=synced_token, gone_at__isnull=True)
    assert books.exclude(title="").exists()
    page = sign_in(operator)

    page.goto(f"{live_server.url}/admin/ebooks/ebook/")

    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(min(books.count(), 50))
    first = books.order_by("title").first()
    expect(page.locator("#result_list")).to_contain_text(first.title)
    covers = page.locator("#result_list img.ebook-cover")
    expect(covers.first).to_have_attribute("src", re.compile(r"^/admin/ebooks/ebook/\d+/cover/$"))
    # Covers load lazily, as a person scrolls. A broken or missing image completes with
    # naturalWidth 0; a decoded one has its real width.
    assert covers.count() == rows.count()
    for cover in covers.all():
        cover.scroll_into_view_if_needed()
        wait_until(page, lambda cover=cover: cover.evaluate("img => img.complete"))
    widths = covers.evaluate_all("imgs => imgs.map(img => img.naturalWidth)")
    assert all(width > 0 for width in widths), widths
    page.evaluate("window.scrollTo(0, 0)")
    screenshot("ebook-list")


def test_search_by_author_narrows_the_list(live_server, sign_in, operator, synced_token):
    books = EBook.objects.filter(token=synced_token)
    author = books.exclude(author="").order_by("title").first().author
    term = author.split()[-1]  # the surname, as people type it
    expected = sorted(
        books.filter(Q(title__icontains=term) | Q(author__icontains=term)).values_list(
            "title", flat=True
        )
    )
    assert 0 < len(expected) < books.count()
    page = sign_in(operator)
    page.goto(f"{live_server.url}/admin/ebooks/ebook/")

    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")

    expect(page).to_have_url(re.compile(rf"[?&]q={re.escape(term)}"))
    titles = page.locator("#result_list tbody tr .field-title_display")
    expect(titles).to_have_count(len(expected))
    assert sorted(titles.all_inner_texts()) == expected
    expect(page.locator("#result_list tbody tr .field-author").first).to_contain_text(term)
