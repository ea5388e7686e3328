"""The three roles of DESIGN.md exist after migrate and keep their permissions."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS, ROLES, roles_sync

pytestmark = pytest.mark.django_db


def _permissions(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_the_three_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    assert ROLES == ("Portal admins", "Operators", "License viewers")


def test_apps_declare_their_own_permissions():
    assert "tokens.add_vpptoken" in _permissions(PORTAL_ADMINS)
    assert "tokens.add_vpptoken" not in _permissions(OPERATORS)
    assert "tokens.view_vpptoken" in _permissions(LICENSE_VIEWERS)


def test_portal_admins_manage_people_who_sign_in():
    # Through the Staff members page (roles only), never Django's user and group permissions.
    staff = {"staff.add_staffmember", "staff.change_staffmember", "staff.view_staffmember"}
    assert staff <= _permissions(PORTAL_ADMINS)
    assert not {p for p in _permissions(PORTAL_ADMINS) if p.startswith("auth.")}


def test_roles_keep_their_permissions_after_a_second_migrate():
    before = {role: _permissions(role) for role in ROLES}
    call_command("migrate", interactive=False, verbosity=0)
    after = {role: _permissions(role) for role in ROLES}
    assert after == before
    assert after[PORTAL_ADMINS]


def test_sync_restores_a_permission_removed_by_hand_and_drops_an_undeclared_one():
    group = Group.objects.get(name=PORTAL_ADMINS)
    group.permissions.remove(Permission.objects.get(codename="add_staffmember"))
    Group.objects.get(name=OPERATORS).permissions.add(
        Permission.objects.get(codename="delete_user")
    )
    roles_sync()
    assert "staff.add_staffmember" in _permissions(PORTAL_ADMINS)
    assert "auth.delete_user" not in _permissions(OPERATORS)


def test_app_declarations_reach_the_groups(monkeypatch):
    config = apps.get_app_config("auth")
    monkeypatch.setattr(
        config, "role_permissions", {LICENSE_VIEWERS: ["view_group"]}, raising=False
    )
    before = _permissions(LICENSE_VIEWERS)
    roles_sync()
    assert _permissions(LICENSE_VIEWERS) == before | {"auth.view_group"}


def test_an_unknown_role_is_refused(monkeypatch):
    config = apps.get_app_config("auth")
    monkeypatch.setattr(config, "role_permissions", {"Superheroes": ["view_group"]}, raising=False)
    with pytest.raises(ValueError, match="unknown role 'Superheroes'"):
        roles_sync()
