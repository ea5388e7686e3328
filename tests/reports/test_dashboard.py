"""The home dashboard: every figure matches the database and links to the list behind it."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from assignments.models import AppleUser, InstallRequest, License
from tests.reports.conftest import figures

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")


def _export_rows(client, list_url: str) -> list[dict]:
    """The CSV export of the changelist a dashboard figure links to, with the same filters."""
    path, _, query = list_url.partition("?")
    app_label, model_name = path.strip("/").split("/")[1:3]
    export = reverse("reports:changelist_export", args=[app_label, model_name])
    response = client.get(f"{export}?{query}")
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


def test_dashboard_figures_match_the_crafted_district(district, viewer_client):
    page = viewer_client.get(INDEX).content.decode()
    shown = figures(page)
    assert shown["low"][0] == 2  # Low Book (3 of 100) and Custom Book (30, threshold 50)
    assert shown["empty_waiting"][0] == 1
    assert shown["shortfall"][0] == License.objects.filter(state="not_enough").count() == 4
    assert shown["invitations"][0] == AppleUser.objects.filter(status="registered").count()
    assert shown["failed"][0] == License.objects.filter(state="failed").count() == 2
    assert shown["install_failures"][0] == 1
    assert shown["leavers"][0] == 1  # Bob; Carol's only license failed, so she holds none
    assert InstallRequest.objects.filter(state="failed").count() == 1


def test_dashboard_numbers_agree_row_for_row_with_the_lists_they_link_to(district, viewer_client):
    shown = figures(viewer_client.get(INDEX).content.decode())
    for name in ("low", "empty_waiting", "shortfall", "invitations", "failed", "install_failures"):
        number, link = shown[name]
        assert link, name
        assert len(_export_rows(viewer_client, link)) == number, name
    low_titles = {row["title"] for row in _export_rows(viewer_client, shown["low"][1])}
    assert low_titles == {"Low Book", "Custom Book"}


def test_token_rows_show_state_expiry_last_sync_and_totals(district, viewer_client):
    page = viewer_client.get(INDEX).content.decode()
    main = page[page.index(f'data-token="{district.ok.pk}"') :]
    main = main[: main.index("</tr>")]
    assert "Valid" in main and "days left" in main and "succeeded" in main
    main_figures = figures(main)
    # Books in the token now: Low, Plenty, Custom, Free (the gone one is left out).
    assert main_figures["books"][0] == 4
    assert main_figures["total"][0] == 300  # the free book has no limit and adds nothing
    assert main_figures["assigned"][0] == 97 + 20 + 70 + 5
    assert main_figures["available"][0] == 3 + 80 + 30
    old = page[page.index(f'data-token="{district.expired.pk}"') :]
    old = old[: old.index("</tr>")]
    assert "Expired" in old and "expired" in old and "failed" in old
    taken = page[page.index(f'data-token="{district.claimed.pk}"') :]
    assert "Assigned to another product" in taken[: taken.index("</tr>")]
    assert "never" in taken[: taken.index("</tr>")]


def test_dashboard_says_when_its_counts_were_read(district, viewer_client):
    page = viewer_client.get(INDEX).content.decode()
    assert "Figures as of" in page
    assert "last read from Apple" in page


def test_dashboard_shows_the_forecast_sentence(district, viewer_client):
    page = viewer_client.get(INDEX).content.decode()
    assert "Buy 4 more of Empty Book now" in page


def test_empty_install_shows_the_first_steps_message(db, viewer_client):
    page = viewer_client.get(INDEX).content.decode()
    assert "once a token has been uploaded and synced" in page


def test_dashboard_stays_within_a_query_budget(
    district, viewer_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(30):
        assert viewer_client.get(INDEX).status_code == 200


def test_dashboard_tables_export(district, viewer_client):
    response = viewer_client.get(reverse("reports:dashboard_export", args=["tokens"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()[1:])))
    assert {row["token"] for row in rows} == {"Main", "Old", "Taken"}
    main = next(row for row in rows if row["token"] == "Main")
    assert (main["books"], main["total"], main["available"]) == ("4", "300", "113")
    forecast = viewer_client.get(reverse("reports:dashboard_export", args=["forecasts"]))
    text = b"".join(forecast.streaming_content).decode()
    assert "Empty Book" in text


def test_an_apps_own_page_lists_its_models_without_the_whole_dashboard(district, viewer_client):
    home = viewer_client.get(INDEX).content.decode()
    app_page = viewer_client.get(reverse("admin:app_list", args=["ebooks"])).content.decode()
    assert 'id="dashboard-title"' in home
    assert 'id="dashboard-title"' not in app_page
    assert reverse("admin:ebooks_ebook_changelist") in app_page
