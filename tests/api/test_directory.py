"""People, groups and memberships upserted by external id, all or nothing."""

from __future__ import annotations

import pytest

from assignments.models import License, Membership, Person, UserGroup
from tests.factories import GroupAssignmentFactory, LicenseFactory, PersonFactory, UserGroupFactory

pytestmark = pytest.mark.django_db


def _people(api, *people):
    return api.post("/api/v1/people/upsert/", {"people": list(people)}, format="json")


def test_people_upsert_creates_then_updates_by_external_id(admin_api):
    first = _people(
        admin_api,
        {"external_id": "S-1", "email": "Ann@School.example", "display_name": "Ann"},
        {"external_id": "S-2", "email": "bob@school.example"},
    )
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    second = _people(
        admin_api,
        {"external_id": "S-1", "email": "ann.new@school.example"},
        {"external_id": "S-2", "email": "bob@school.example"},
    )
    assert second.json() == {"created": 0, "updated": 1, "unchanged": 1}
    ann = Person.objects.get(external_id="S-1")
    assert (ann.email, ann.display_name, ann.active) == ("ann.new@school.example", "Ann", True)


def test_people_upsert_adopts_a_person_known_only_by_email(admin_api):
    known = PersonFactory(email="cy@school.example")
    response = _people(admin_api, {"external_id": "S-3", "email": "cy@school.example"})
    assert response.json()["updated"] == 1
    known.refresh_from_db()
    assert known.external_id == "S-3"
    assert Person.objects.count() == 1


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        (
            [
                {"external_id": "S-1", "email": "a@x.example"},
                {"external_id": "S-1", "email": "b@x.example"},
            ],
            "people[2]: external_id “S-1” is also item 1",
        ),
        ([{"external_id": "S-9", "email": "taken@x.example"}], "already belongs"),
        ([{"external_id": "S-1", "email": "not an email"}], "email"),
        ([{"email": "a@x.example"}], "external_id"),
    ],
)
def test_bad_people_upsert_is_refused_with_the_reason_and_saves_nothing(admin_api, items, reason):
    PersonFactory(email="taken@x.example", external_id="S-0")
    response = _people(admin_api, {"external_id": "OK", "email": "ok@x.example"}, *items)
    assert response.status_code in (400, 422)
    assert reason in response.json()["detail"]
    assert list(Person.objects.values_list("external_id", flat=True)) == ["S-0"]


def test_deactivating_a_person_marks_their_license_kept(admin_api):
    person = PersonFactory(external_id="S-1")
    assignment = GroupAssignmentFactory(group=UserGroupFactory(members=[person]))
    license_ = LicenseFactory(ebook=assignment.ebook, person=person)
    _people(admin_api, {"external_id": "S-1", "email": person.email, "active": False})
    license_.refresh_from_db()
    assert license_.kept and license_.state == License.State.ASSIGNED


def test_groups_upsert_by_external_id_renames_and_refuses_a_taken_name(admin_api):
    url = "/api/v1/groups/upsert/"
    body = {"groups": [{"external_id": "G-1", "name": "Year 7"}]}
    assert admin_api.post(url, body, format="json").json()["created"] == 1
    body = {"groups": [{"external_id": "G-1", "name": "Year 7 (2026)", "description": "x"}]}
    assert admin_api.post(url, body, format="json").json()["updated"] == 1
    UserGroupFactory(name="Staff", external_id="G-2")
    body = {"groups": [{"external_id": "G-1", "name": "Staff"}]}
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 422
    assert "belongs to the group with external_id “G-2”" in response.json()["detail"]
    assert UserGroup.objects.get(external_id="G-1").name == "Year 7 (2026)"


def test_memberships_change_adds_and_removes_by_external_ids(admin_api):
    group = UserGroupFactory(external_id="G-1")
    ann, bob = PersonFactory(external_id="S-1"), PersonFactory(external_id="S-2")
    Membership.objects.create(group=group, person=bob)
    url = "/api/v1/memberships/change/"
    body = {"group_external_id": "G-1", "add": ["S-1"], "remove": ["S-2"]}
    assert admin_api.post(url, body, format="json").json() == {"added": 1, "removed": 1}
    assert list(group.members.all()) == [ann]
    body = {"group_external_id": "G-1", "add": ["S-404"]}
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 422
    assert "S-404" in response.json()["detail"]
    body = {"group_external_id": "G-404", "add": ["S-2"]}
    assert admin_api.post(url, body, format="json").status_code == 422
    assert list(group.members.all()) == [ann]


def test_new_members_of_an_assigned_group_need_their_licenses_confirmed(admin_api):
    group = UserGroupFactory(external_id="G-1")
    GroupAssignmentFactory(group=group)
    PersonFactory(external_id="S-1")
    url = "/api/v1/memberships/change/"
    refused = admin_api.post(url, {"group_external_id": "G-1", "add": ["S-1"]}, format="json")
    assert refused.status_code == 409
    assert refused.json()["licenses"] == 1
    assert "confirm_irrevocable=true and expected_licenses=1" in refused.json()["detail"]
    assert not Membership.objects.exists()
    body = {
        "group_external_id": "G-1",
        "add": ["S-1"],
        "confirm_irrevocable": True,
        "expected_licenses": 1,
    }
    assert admin_api.post(url, body, format="json").json() == {"added": 1, "removed": 0}


def test_bringing_a_person_back_needs_their_licenses_confirmed(admin_api):
    person = PersonFactory(external_id="S-1", active=False)
    GroupAssignmentFactory(group=UserGroupFactory(members=[person]))
    item = {"external_id": "S-1", "email": person.email, "active": True}
    refused = _people(admin_api, item)
    assert refused.status_code == 409
    person.refresh_from_db()
    assert not person.active
    body = {"people": [item], "confirm_irrevocable": True, "expected_licenses": 1}
    response = admin_api.post("/api/v1/people/upsert/", body, format="json")
    assert response.json()["updated"] == 1
    person.refresh_from_db()
    assert person.active
