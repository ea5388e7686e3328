"""Staff members: portal admins invite people into a role, change it, deactivate; nothing more."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import reverse

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS

pytestmark = pytest.mark.django_db

LIST = reverse("admin:staff_staffmember_changelist")
ADD = reverse("admin:staff_staffmember_add")
User = get_user_model()


def _change_url(user) -> str:
    return reverse("admin:staff_staffmember_change", args=[user.pk])


def _invite(client, email="ann@springfield.example", role=OPERATORS):
    return client.post(
        ADD, {"email": email, "first_name": "Ann", "last_name": "Lee", "role": role}, follow=True
    )


def _signs_in(client, username: str, password: str) -> bool:
    """Through the login form, as a person (and django-axes) sees it."""
    response = client.post(reverse("admin:login"), {"username": username, "password": password})
    return response.status_code == 302


def _accept_link(message) -> str:
    return re.search(r"http://testserver(/admin/staff/\S+)", message.body).group(1)


def test_invited_person_chooses_a_password_and_signs_in_with_the_role(portal_admin_client):
    response = _invite(portal_admin_client)
    assert "Invitation sent to ann@springfield.example as Operators" in response.content.decode()
    ann = User.objects.get(email="ann@springfield.example")
    assert ann.is_staff and not ann.is_superuser and not ann.has_usable_password()
    assert list(ann.groups.values_list("name", flat=True)) == [OPERATORS]
    (message,) = mail.outbox
    assert message.to == ["ann@springfield.example"]
    assert "Operators" in message.body

    visitor = Client()
    form = visitor.get(_accept_link(message), follow=True)
    assert "Choose the password" in form.content.decode()
    done = visitor.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a long new passphrase 42", "new_password2": "a long new passphrase 42"},
        follow=True,
    )
    assert "Your password is set" in done.content.decode()
    assert _signs_in(visitor, "ann@springfield.example", "a long new passphrase 42")
    assert visitor.get(reverse("admin:sync_syncrun_changelist")).status_code == 200
    # The link works once.
    again = Client().get(_accept_link(message), follow=True)
    assert "already been used or has expired" in again.content.decode()


def test_inviting_an_existing_address_is_refused_in_words(portal_admin_client, operator):
    operator.email = "op@springfield.example"
    operator.save()
    response = _invite(portal_admin_client, email="OP@springfield.example")
    assert "already has an account" in response.content.decode()
    assert User.objects.filter(email__iexact="op@springfield.example").count() == 1
    assert mail.outbox == []


def test_changing_the_role_replaces_it_and_staff_status_follows(portal_admin_client, operator):
    page = portal_admin_client.get(_change_url(operator)).content.decode()
    for absent in ('name="is_superuser"', 'name="user_permissions"', 'name="groups"'):
        assert absent not in page
    assert f"/{operator.pk}/password/" not in page
    response = portal_admin_client.post(
        _change_url(operator),
        {
            "first_name": "Op",
            "last_name": "Erator",
            "email": "op@springfield.example",
            "role": LICENSE_VIEWERS,
            "is_active": "on",
            "is_superuser": "on",  # not a field of this page: ignored
        },
    )
    assert response.status_code == 302
    operator.refresh_from_db()
    assert list(operator.groups.values_list("name", flat=True)) == [LICENSE_VIEWERS]
    assert operator.is_staff and not operator.is_superuser


def test_staff_status_follows_the_role_from_either_side(django_user_model):
    person = django_user_model.objects.create_user(username="p", password="x")
    operators = Group.objects.get(name=OPERATORS)
    person.groups.add(operators)
    person.refresh_from_db()
    assert person.is_staff
    person.groups.remove(operators)
    person.refresh_from_db()
    assert not person.is_staff
    operators.user_set.add(person)
    person.refresh_from_db()
    assert person.is_staff
    operators.user_set.clear()
    person.refresh_from_db()
    assert not person.is_staff


def test_deactivate_stops_sign_in_but_not_for_yourself(portal_admin_client, portal_admin, operator):
    response = portal_admin_client.post(
        LIST,
        {"action": "deactivate", "_selected_action": [operator.pk, portal_admin.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 staff member deactivated" in page
    assert "You cannot deactivate your own account" in page
    operator.refresh_from_db()
    portal_admin.refresh_from_db()
    assert not operator.is_active and portal_admin.is_active
    assert not _signs_in(Client(), operator.username, "pw-for-tests")


def test_portal_admin_cannot_take_away_their_own_admin_role(portal_admin_client, portal_admin):
    response = portal_admin_client.post(
        _change_url(portal_admin),
        {"email": "me@springfield.example", "role": OPERATORS, "is_active": "on"},
    )
    assert "cannot take away your own Portal admin role" in response.content.decode()
    assert portal_admin.groups.filter(name=PORTAL_ADMINS).exists()


def test_portal_admin_can_neither_make_nor_touch_a_superuser(portal_admin_client):
    root = User.objects.create_superuser("root", "root@example.org", "pw")
    assert portal_admin_client.get(_change_url(root)).status_code == 200  # read only
    refused = portal_admin_client.post(
        _change_url(root), {"email": "x@example.org", "role": OPERATORS, "is_active": ""}
    )
    assert refused.status_code == 403
    for url in (
        reverse("admin:auth_user_password_change", args=[root.pk]),
        reverse("admin:auth_user_change", args=[root.pk]),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_group_change", args=[Group.objects.get(name=OPERATORS).pk]),
    ):
        assert portal_admin_client.get(url).status_code == 403, url
    root.refresh_from_db()
    assert root.is_active and root.is_superuser


def test_other_roles_cannot_open_the_staff_page(operator_client, viewer_client):
    for client in (operator_client, viewer_client):
        assert client.get(LIST).status_code == 403
        assert (
            client.post(ADD, {"email": "x@example.org", "role": PORTAL_ADMINS}).status_code == 403
        )
    assert not User.objects.filter(email="x@example.org").exists()


def test_a_portal_admin_unpauses_a_colleague_locked_out_by_wrong_passwords(
    portal_admin_client, settings
):
    from audit.models import AuditEntry

    ann = User.objects.create_user(
        username="ann", email="ann@springfield.example", password="right-horse-battery-42"
    )
    ann.groups.add(Group.objects.get(name=OPERATORS))
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _signs_in(Client(), "ann", "wrong")
    assert not _signs_in(Client(), "ann", "right-horse-battery-42")  # paused
    listing = portal_admin_client.get(LIST).content.decode()
    assert "paused after wrong passwords" in listing

    done = portal_admin_client.post(
        LIST, {"action": "sign_in_unpause", "_selected_action": [ann.pk]}, follow=True
    )
    assert "Ann can sign in again." in done.content.decode()  # the admin capitalises
    assert "paused after wrong passwords" not in done.content.decode()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SIGN_IN_UNLOCK).count() == 1
    assert _signs_in(Client(), "ann", "right-horse-battery-42")


def test_only_who_may_change_staff_members_can_unpause_sign_in(operator_client):
    ann = User.objects.create_user(username="ann", password="right-horse-battery-42")
    response = operator_client.post(
        LIST, {"action": "sign_in_unpause", "_selected_action": [ann.pk]}
    )
    assert response.status_code == 403
