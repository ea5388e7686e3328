"""The portal is never readable anonymously; the branded login page renders."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _admin_urls() -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[1]))
        urls.append(reverse("admin:app_list", args=[opts.app_label]))
    return sorted(set(urls))


def test_login_page_renders_with_the_portal_name(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Shelfkeeper" in page
    assert "css/portal.css" in page


@pytest.mark.parametrize("url", _admin_urls())
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_root_leads_to_the_admin(client):
    assert client.get("/")["Location"] == reverse("admin:index")


def test_dashboard_hosts_on_the_index_for_staff(portal_admin_client):
    response = portal_admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert 'id="dashboard-title"' in response.content.decode()


def test_static_assets_are_served_by_the_project(client):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert b".portal-brand" in b"".join(response.streaming_content)
