"""Sign-in errors say what is wrong; a refused page says which role it needs, quietly."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_sign_in_without_a_role_says_the_account_has_no_role(django_user_model):
    django_user_model.objects.create_user(username="newcomer", password="pw-for-tests")
    response = Client().post(
        reverse("admin:login"), {"username": "newcomer", "password": "pw-for-tests"}
    )
    page = response.content.decode()
    assert "your account has no role in Shelfkeeper yet" in page
    assert "staff account" not in page


def test_wrong_password_says_so_without_mentioning_staff_accounts(operator):
    response = Client().post(
        reverse("admin:login"), {"username": operator.username, "password": "no"}
    )
    page = response.content.decode()
    assert "The username or password is not right" in page
    assert "staff account" not in page


def test_refused_page_is_the_portal_page_naming_the_role_needed(operator_client, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    response = operator_client.get(reverse("admin:tokens_vpptoken_add"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Shelfkeeper" in page and 'id="user-tools"' in page
    assert "It needs the role <strong>Portal admins</strong>" in page
    assert "Your role: <strong>Operators</strong>" in page
    (record,) = [r for r in caplog.records if getattr(r, "status_code", None) == 403]
    # The console handler's filter drops the traceback: a refusal is not an error.
    handler = logging.getLogger().handlers[0]
    assert any(f.filter(record) for f in handler.filters)
    assert record.exc_info is None
    assert "Traceback" not in logging.Formatter().format(record)


def test_favicon_is_served_not_a_404(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("img/shelfkeeper.svg")
    page = client.get(reverse("admin:login")).content.decode()
    assert 'rel="icon"' in page


def test_menu_row_lists_pages_in_the_order_people_use_them(portal_admin_client):
    import re

    page = portal_admin_client.get(reverse("admin:index")).content.decode()
    menu = re.search(r'<nav class="portal-nav".*?</nav>', page, re.S).group(0)
    names = re.findall(r">([^<>]+)</a>", menu)
    assert names[:4] == ["VPP tokens", "eBooks", "Group assignments", "People"]
    assert "Staff members" in names and "Users" not in names and "Groups" not in names
