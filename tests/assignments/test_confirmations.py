"""Every change that can use book licenses shows the count and saves nothing until confirmed:
editing an assignment, adding a member on the group page or the membership page, an import."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from assignments.directory_import import directory_import
from assignments.models import GroupAssignment, Membership, Person
from tests.factories import (
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def assigned():
    """A book capped at 1 for a group of four; one of them already holds it."""
    ebook = EBookFactory(title="The Periodic Table", total_count=50, available_count=40)
    people = PersonFactory.create_batch(4)
    group = UserGroupFactory(name="Grade 9", members=people)
    LicenseFactory(ebook=ebook, person=people[0])
    assignment = GroupAssignmentFactory(
        ebook=ebook, group=group, intent=GroupAssignment.Intent.AVAILABLE, cap=1
    )
    return assignment, people


def _change(client, assignment, **data):
    url = reverse("admin:assignments_groupassignment_change", args=[assignment.pk])
    return client.post(url, {"intent": assignment.intent, "cap": assignment.cap or "", **data})


def test_removing_the_cap_shows_the_count_and_saves_nothing(portal_admin_client, assigned):
    assignment, _ = assigned
    response = _change(portal_admin_client, assignment, cap="", _save="Save")
    assert response.status_code == 200
    assert response.templates[0].name == "admin/assignments/confirm_licenses.html"
    assert response.context["count"] == 3
    assert "permanently use 3 licenses" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.cap == 1  # nothing saved

    response = _change(
        portal_admin_client, assignment, cap="", _save="Save", _confirm_licenses="3", confirm="on"
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.cap is None


def test_switching_to_required_asks_first(portal_admin_client, assigned):
    assignment, _ = assigned
    response = _change(portal_admin_client, assignment, intent="required")
    assert response.context["count"] == 0  # the cap is reached: no new license, still asked
    assignment.refresh_from_db()
    assert assignment.intent == GroupAssignment.Intent.AVAILABLE


def test_a_stale_or_unticked_confirmation_saves_nothing(portal_admin_client, assigned):
    assignment, _ = assigned
    response = _change(portal_admin_client, assignment, cap="", _confirm_licenses="2", confirm="on")
    assert "numbers changed" in response.content.decode()
    response = _change(portal_admin_client, assignment, cap="", _confirm_licenses="3")
    assert "Tick the box" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.cap == 1


def test_the_change_form_uses_the_one_validator(portal_admin_client, assigned):
    assignment, _ = assigned
    response = _change(portal_admin_client, assignment, cap="0")
    assert response.status_code == 200
    assert "at least 1" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.cap == 1


def _group_page_data(group, new_person=None) -> dict:
    memberships = list(Membership.objects.filter(group=group).order_by("pk"))
    total = len(memberships) + (1 if new_person else 0)
    data = {
        "name": group.name,
        "description": "",
        "external_id": "",
        "memberships-TOTAL_FORMS": str(total),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
    }
    for index, membership in enumerate(memberships):
        data[f"memberships-{index}-id"] = str(membership.pk)
        data[f"memberships-{index}-group"] = str(group.pk)
        data[f"memberships-{index}-person"] = str(membership.person_id)
    if new_person:
        data[f"memberships-{len(memberships)}-group"] = str(group.pk)
        data[f"memberships-{len(memberships)}-person"] = str(new_person.pk)
    return data


def test_adding_a_member_on_the_group_page_shows_the_count_first(portal_admin_client, assigned):
    assignment, _ = assigned
    assignment.cap = None
    assignment.save()
    newcomer = PersonFactory()
    url = reverse("admin:assignments_usergroup_change", args=[assignment.group_id])
    page = portal_admin_client.get(url).content.decode()
    assert "A member you add here is given a license of it for good" in page

    data = _group_page_data(assignment.group, newcomer)
    response = portal_admin_client.post(url, {**data, "name": "Renamed"})
    # The three members not yet holding it are on their way already; the newcomer is one more.
    assert response.context["count"] == 1
    assert "join a group that has books assigned" in response.content.decode()
    assert not Membership.objects.filter(person=newcomer).exists()
    assert type(assignment.group).objects.get(pk=assignment.group_id).name == "Grade 9"

    response = portal_admin_client.post(
        url, {**data, "name": "Renamed", "_confirm_licenses": "1", "confirm": "on"}
    )
    assert response.status_code == 302
    assert Membership.objects.filter(person=newcomer).exists()


def test_adding_a_membership_directly_shows_the_count_first(portal_admin_client, assigned):
    assignment, _ = assigned
    assignment.cap = None
    assignment.save()
    newcomer = PersonFactory()
    url = reverse("admin:assignments_membership_add")
    data = {"group": assignment.group_id, "person": newcomer.pk}
    response = portal_admin_client.post(url, data)
    assert response.context["count"] == 1
    assert not Membership.objects.filter(person=newcomer).exists()
    response = portal_admin_client.post(url, {**data, "_confirm_licenses": "1", "confirm": "on"})
    assert response.status_code == 302
    assert Membership.objects.filter(person=newcomer).exists()


def test_adding_a_member_to_a_group_without_books_needs_no_confirmation(portal_admin_client):
    group, newcomer = UserGroupFactory(), PersonFactory()
    response = portal_admin_client.post(
        reverse("admin:assignments_membership_add"), {"group": group.pk, "person": newcomer.pk}
    )
    assert response.status_code == 302
    assert Membership.objects.filter(person=newcomer).exists()


NEWCOMERS = b"email\nnew1@school.example\nnew2@school.example\n"
INTO_GRADE_9 = (
    b"group_name,member_email\nGrade 9,new1@school.example\nGrade 9,new2@school.example\n"
)


@pytest.fixture
def uncapped(assigned):
    assignment, people = assigned
    assignment.cap = None
    assignment.save()
    # The group file replaces the members: keep the current four in it.
    current = b"".join(f"Grade 9,{p.email}\n".encode() for p in people)
    return INTO_GRADE_9 + current


def test_an_import_that_uses_licenses_saves_nothing_until_confirmed(uncapped):
    outcome = directory_import(people=NEWCOMERS, groups=uncapped)
    assert outcome.needs_confirmation and not outcome.ok
    assert outcome.licenses == 2
    assert "The Periodic Table" in outcome.license_lines[0]
    assert not Person.objects.filter(email__startswith="new").exists()

    assert not directory_import(people=NEWCOMERS, groups=uncapped, confirmed_licenses=1).ok
    outcome = directory_import(people=NEWCOMERS, groups=uncapped, confirmed_licenses=2)
    assert outcome.ok
    assert Membership.objects.filter(person__email__startswith="new").count() == 2


def test_import_command_prints_the_count_and_needs_yes(uncapped, tmp_path, capsys):
    (tmp_path / "people.csv").write_bytes(NEWCOMERS)
    (tmp_path / "groups.csv").write_bytes(uncapped)
    args = [str(tmp_path / "people.csv"), "--groups", str(tmp_path / "groups.csv")]
    with pytest.raises(CommandError, match="--yes"):
        call_command("import_directory", *args)
    assert "permanently use 2 book licenses" in capsys.readouterr().out
    assert not Person.objects.filter(email__startswith="new").exists()
    call_command("import_directory", *args, "--yes")
    assert Membership.objects.filter(person__email__startswith="new").count() == 2


def test_reactivating_a_person_on_their_page_shows_the_count_first(portal_admin_client, assigned):
    assignment, people = assigned
    assignment.cap = None
    assignment.save()
    person = people[1]
    person.active = False
    person.save()
    url = reverse("admin:assignments_person_change", args=[person.pk])
    data = {
        "email": person.email,
        "display_name": person.display_name,
        "external_id": "",
        "managed_apple_id": "",
        "active": "on",
    }
    for prefix in ("devices", "apple_users", "licenses", "offers", "install_requests"):
        data[f"{prefix}-TOTAL_FORMS"] = data[f"{prefix}-INITIAL_FORMS"] = "0"
    response = portal_admin_client.post(url, data)
    assert response.status_code == 200, response.content.decode()[:500]
    assert response.context["count"] == 1
    person.refresh_from_db()
    assert person.active is False
    response = portal_admin_client.post(url, {**data, "_confirm_licenses": "1", "confirm": "on"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.active is True
