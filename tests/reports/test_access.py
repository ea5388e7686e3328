"""Every role reads every dashboard and export; a viewer reaches no write action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reports.models import StockThreshold

pytestmark = pytest.mark.django_db
ROLES = ["portal_admin_client", "operator_client", "viewer_client"]


def _pages(district) -> list[str]:
    return [
        reverse("admin:index"),
        reverse("admin:ebooks_ebook_change", args=[district.low.pk]),
        reverse("admin:assignments_person_change", args=[district.bob.pk]),
        reverse("admin:tokens_vpptoken_change", args=[district.ok.pk]),
        reverse("reports:leavers"),
        reverse("reports:funnel") + f"?ebook={district.low.pk}&step=targeted",
        reverse("reports:funnel") + f"?group={district.group.pk}",
        reverse("admin:ebooks_ebook_changelist") + "?stock=low",
        reverse("admin:assignments_license_changelist") + f"?ebook__id__exact={district.low.pk}",
        reverse("admin:assignments_installrequest_changelist") + "?state__exact=failed",
        reverse("admin:reports_stockalert_changelist"),
    ]


def _exports(district) -> list[str]:
    export = "reports:changelist_export"
    return [
        reverse("reports:dashboard_export", args=["tokens"]),
        reverse("reports:dashboard_export", args=["forecasts"]),
        reverse("reports:leavers") + "?format=csv",
        reverse("reports:funnel") + f"?ebook={district.low.pk}&format=csv",
        reverse("reports:ledger_export", args=[district.bob.pk]),
        *(
            reverse(export, args=list(name.split(".")))
            for name in (
                "assignments.license",
                "assignments.person",
                "assignments.appleuser",
                "assignments.usergroup",
                "assignments.device",
                "assignments.groupassignment",
                "assignments.installrequest",
                "ebooks.ebook",
                "tokens.vpptoken",
                "reports.stockalert",
            )
        ),
    ]


@pytest.mark.parametrize("role_client", ROLES)
def test_every_role_reads_every_dashboard_and_export(request, role_client, district):
    client = request.getfixturevalue(role_client)
    for url in _pages(district):
        assert client.get(url).status_code == 200, url
    for url in _exports(district):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/csv"), url
        b"".join(response.streaming_content)


def test_anonymous_people_see_nothing(client, district):
    for url in _pages(district) + _exports(district):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_a_viewer_reaches_no_write_action(viewer_client, district):
    for url in _pages(district):
        html = viewer_client.get(url).content.decode()
        assert 'name="_save"' not in html, url
        assert "Assign to groups" not in html, url
        assert "addlink" not in html, url
    assert viewer_client.get(reverse("admin:reports_stockthreshold_add")).status_code == 403
    response = viewer_client.post(
        reverse("admin:reports_stockthreshold_add"), {"ebook": district.low.pk, "low_below": 3}
    )
    assert response.status_code == 403
    assert not StockThreshold.objects.filter(low_below=3).exists()


def test_portal_admins_set_a_books_threshold(portal_admin_client, district):
    response = portal_admin_client.post(
        reverse("admin:reports_stockthreshold_add"), {"ebook": district.plenty.pk, "low_below": 90}
    )
    assert response.status_code == 302
    assert StockThreshold.objects.get(ebook=district.plenty).low_below == 90


def test_the_dashboard_needs_its_permission(django_user_model, client, district):
    user = django_user_model.objects.create_user("staff-only", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("reports:leavers")).status_code == 403
    assert "data-figure" not in client.get(reverse("admin:index")).content.decode()


def test_every_export_link_on_the_dashboards_works(viewer_client, district):
    import re

    seen = 0
    for url in _pages(district)[:6]:
        html = viewer_client.get(url).content.decode()
        links = re.findall(r'class="report-export" href="([^"]+)"', html)
        links += re.findall(r'href="([^"]+)" class="portal-export"', html)
        assert links, url
        seen += len(links)
        for link in links:
            link = link.replace("&amp;", "&")
            if link.startswith("?"):
                link = url.split("?")[0] + link
            response = viewer_client.get(link)
            assert response.status_code == 200, (url, link)
            assert response["Content-Type"].startswith("text/csv"), (url, link)
            b"".join(response.streaming_content)
    assert seen >= 12
