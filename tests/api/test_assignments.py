"""Assignments through the API: the admin's preview numbers, confirmation, a stale count refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assignments.models import GroupAssignment, License
from tests.factories import (
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    """A book with 3 licenses left, a group of 5 (one holds it), an excluded group of 1."""
    book = EBookFactory(total_count=10, available_count=3)
    people = PersonFactory.create_batch(5)
    holder = people[0]
    LicenseFactory(ebook=book, person=holder, state=License.State.ASSIGNED)
    group = UserGroupFactory(members=people)
    excluded = UserGroupFactory(members=[people[4]])
    return {"book": book, "group": group, "excluded": excluded, "people": people}


def _request(scene, **extra):
    return {
        "ebook": scene["book"].pk,
        "groups": [scene["group"].pk],
        "excluded_groups": [scene["excluded"].pk],
        "intent": "required",
        **extra,
    }


def test_api_preview_equals_the_admin_preview(scene, admin_api, portal_admin_client):
    api = admin_api.post("/api/v1/assignments/preview/", _request(scene), format="json").json()
    page = portal_admin_client.post(
        reverse("admin:assignments_assign_book", args=[scene["book"].pk]),
        {
            "groups": [scene["group"].pk],
            "excluded_groups": [scene["excluded"].pk],
            "intent": "required",
            "_preview": "1",
        },
    )
    admin = page.context["preview"]
    assert api["lines"] == admin.lines()
    for field in ("targeted", "already_held", "available", "will_consume", "need_invitation"):
        assert api[field] == getattr(admin, field)
    assert (api["targeted"], api["already_held"], api["will_consume"]) == (4, 1, 3)
    assert api["short_of_licenses"] == 0
    assert not GroupAssignment.objects.exists()


def test_create_without_confirmation_is_refused_and_saves_nothing(scene, admin_api):
    for body in (
        _request(scene, expected_licenses=3, confirm_irrevocable=False),
        _request(scene, expected_licenses=3),
    ):
        response = admin_api.post("/api/v1/assignments/", body, format="json")
        assert response.status_code in (400, 422), response.content
        assert response["Content-Type"] == "application/problem+json"
        assert "confirm_irrevocable" in response.json()["detail"]
    assert not GroupAssignment.objects.exists()


def test_create_with_a_stale_count_is_refused_with_the_new_numbers(scene, admin_api):
    preview = admin_api.post("/api/v1/assignments/preview/", _request(scene), format="json")
    expected = preview.json()["will_consume"]
    # Someone else hands out one of the licenses between the preview and the confirmation.
    scene["book"].available_count = 2
    scene["book"].save()
    response = admin_api.post(
        "/api/v1/assignments/",
        _request(scene, confirm_irrevocable=True, expected_licenses=expected),
        format="json",
    )
    assert response.status_code == 409
    body = response.json()
    assert body["type"].endswith("stale-preview")
    assert body["preview"]["will_consume"] == 2
    assert "2 licenses, not 3" in body["detail"]
    assert not GroupAssignment.objects.exists()


def test_create_with_confirmation_and_the_previewed_count_assigns(
    scene, admin_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_api.post(
            "/api/v1/assignments/",
            _request(scene, confirm_irrevocable=True, expected_licenses=3),
            format="json",
        )
    assert response.status_code == 201, response.content
    assignment = GroupAssignment.objects.get()
    assert (assignment.ebook, assignment.group, assignment.intent) == (
        scene["book"],
        scene["group"],
        "required",
    )
    assert list(assignment.excluded_groups.all()) == [scene["excluded"]]
    assert assignment.created_by is None  # a key is no portal account
    assert response.json()["assignments"][0]["id"] == assignment.pk
    assert callbacks, "the reconciler is told once the assignment commits"


def test_changing_an_assignment_needs_the_same_confirmation(scene, admin_api):
    assignment = GroupAssignmentFactory(ebook=scene["book"], group=scene["group"], cap=2)
    url = f"/api/v1/assignments/{assignment.pk}/"
    refused = admin_api.patch(url, {"cap": 4}, format="json")
    assert refused.status_code == 422
    assignment.refresh_from_db()
    assert assignment.cap == 2
    expected = refused.json()["preview"]["will_consume"]
    stale = admin_api.patch(
        url,
        {"cap": 4, "confirm_irrevocable": True, "expected_licenses": expected + 1},
        format="json",
    )
    assert stale.status_code == 409
    response = admin_api.patch(
        url,
        {"cap": 4, "confirm_irrevocable": True, "expected_licenses": expected},
        format="json",
    )
    assert response.status_code == 200, response.content
    assignment.refresh_from_db()
    assert assignment.cap == 4
    # Nothing changed, nothing to confirm.
    assert admin_api.patch(url, {"cap": 4}, format="json").status_code == 200


def test_delete_keeps_the_licenses_given(scene, admin_api):
    assignment = GroupAssignmentFactory(ebook=scene["book"], group=scene["group"])
    assert admin_api.delete(f"/api/v1/assignments/{assignment.pk}/").status_code == 204
    assert not GroupAssignment.objects.exists()
    held = License.objects.get(ebook=scene["book"])
    assert held.state == License.State.ASSIGNED and held.kept


def test_rules_of_the_service_come_back_as_problems(scene, admin_api):
    gone = EBookFactory(gone=True)
    body = _request(scene, ebook=gone.pk)
    expected = admin_api.post("/api/v1/assignments/preview/", body, format="json").json()
    body.update(confirm_irrevocable=True, expected_licenses=expected["will_consume"])
    response = admin_api.post("/api/v1/assignments/", body, format="json")
    assert response.status_code == 422
    assert "no longer in its token" in response.json()["detail"]
    both = _request(
        scene, excluded_groups=[scene["group"].pk], confirm_irrevocable=True, expected_licenses=0
    )
    response = admin_api.post("/api/v1/assignments/", both, format="json")
    assert response.status_code in (409, 422)
    assert not GroupAssignment.objects.exists()


def test_api_actions_are_in_the_audit_log_under_the_key(scene, admin_api):
    from audit.models import AuditEntry

    response = admin_api.post(
        "/api/v1/assignments/",
        _request(scene, confirm_irrevocable=True, expected_licenses=3),
        format="json",
    )
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="assignment_create")
    assert entry.actor is None and entry.actor_name.startswith("API key shk_")
    assert entry.detail["via"] == "api"
    assert entry.target_id == str(GroupAssignment.objects.get().pk)
