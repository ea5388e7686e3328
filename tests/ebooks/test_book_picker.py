"""Assigning starts from a book: the picker tells editions and tokens apart, and scales."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import EBookFactory, VppTokenFactory

pytestmark = pytest.mark.django_db

PICKER = reverse("admin:ebooks_ebook_picker")


def _suggest(client, term: str) -> list[str]:
    response = client.get(
        PICKER,
        {
            "app_label": "assignments",
            "model_name": "groupassignment",
            "field_name": "ebook",
            "term": term,
        },
    )
    assert response.status_code == 200
    return [row["text"] for row in response.json()["results"]]


def test_picker_shows_title_edition_token_and_licenses_left(portal_admin_client):
    main, annex = VppTokenFactory(name="Main Library"), VppTokenFactory(name="Annex")
    EBookFactory(token=main, title="Dracula", total_count=350, available_count=349)
    EBookFactory(
        token=annex, title="Dracula", pricing_param="PLUS", total_count=10, available_count=0
    )
    EBookFactory(token=main, title="Dracula (old)", gone_at=timezone.now())
    assert sorted(_suggest(portal_admin_client, "Drac")) == [
        "Dracula — Enhanced (PLUS) — Annex — 0 of 10 available",
        "Dracula — Standard — Main Library — 349 of 350 available",
    ]


def test_choose_page_is_an_autocomplete_not_a_list_of_every_book(portal_admin_client):
    EBookFactory.create_batch(30)
    page = portal_admin_client.get(reverse("admin:assignments_assign_choose")).content.decode()
    assert "admin-autocomplete" in page
    assert f'data-ajax--url="{PICKER}"' in page
    assert page.count("<option") <= 1


def test_book_page_offers_assign_only_to_those_who_may(portal_admin_client, operator_client):
    book = EBookFactory(title="Dracula")
    url = reverse("admin:ebooks_ebook_change", args=[book.pk])
    assign = reverse("admin:assignments_assign_book", args=[book.pk])
    assert assign in portal_admin_client.get(url).content.decode()
    assert assign not in operator_client.get(url).content.decode()


def test_menu_and_breadcrumbs_write_ebooks_with_a_small_e(portal_admin_client):
    book = EBookFactory(title="Dracula")
    for url in (
        reverse("admin:ebooks_ebook_changelist"),
        reverse("admin:ebooks_ebook_change", args=[book.pk]),
    ):
        page = portal_admin_client.get(url).content.decode()
        assert ">eBooks</a>" in page
        assert "EBooks" not in page
