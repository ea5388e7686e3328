"""List and detail pages stay bounded at district scale: no DISTINCT, no full scans, no N+1."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assignments.models import GroupAssignment, InstallRequest
from tests.factories import (
    DeviceFactory,
    EBookFactory,
    MembershipFactory,
    PersonFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db


def _get(client, url: str):
    client.get(url)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


def test_people_filtered_by_group_are_a_semi_join_without_distinct(viewer_client):
    group, other = UserGroupFactory(), UserGroupFactory()
    members = PersonFactory.create_batch(3)
    for person in members:
        MembershipFactory(group=group, person=person)
        MembershipFactory(group=other, person=person)  # a second membership would duplicate
    outsider = PersonFactory()
    url = reverse("admin:assignments_person_changelist")
    response, sql = _get(viewer_client, f"{url}?memberships__group__id__exact={group.pk}")
    assert not [q for q in sql if "DISTINCT" in q.upper()]
    shown = [p.email for p in response.context["cl"].result_list]
    assert sorted(shown) == sorted(p.email for p in members)
    assert outsider.email not in shown
    assert group.name in response.content.decode()  # the sidebar names the chosen group


def test_device_model_filter_lists_models_without_a_distinct_scan(viewer_client):
    for model in ("iPad Air", "iPhone 15", "iPad Air", ""):
        DeviceFactory(model=model)
    url = reverse("admin:assignments_device_changelist")
    response, sql = _get(viewer_client, url)
    assert not [q for q in sql if "DISTINCT" in q.upper()]
    page = response.content.decode()
    assert "?model=iPad+Air" in page and "?model=iPhone+15" in page
    filtered, _ = _get(viewer_client, f"{url}?model=iPad+Air")
    assert {d.model for d in filtered.context["cl"].result_list} == {"iPad Air"}
    assert len(filtered.context["cl"].result_list) == 2


def test_group_assignment_filter_is_a_name_box_not_a_link_per_group(viewer_client):
    book = EBookFactory()
    groups = [UserGroupFactory(name=f"Class {n:02d}") for n in range(30)]
    for group in groups:
        GroupAssignment.objects.create(ebook=book, group=group, intent="available")
    url = reverse("admin:assignments_groupassignment_changelist")
    response, _ = _get(viewer_client, url)
    sidebar = response.content.decode().split('id="changelist-filter"')[1]
    assert not re.search(r"group__id__exact=\d+", sidebar)
    assert 'name="group_name"' in sidebar
    filtered, _ = _get(viewer_client, f"{url}?group_name=Class+1")
    assert {a.group.name for a in filtered.context["cl"].result_list} == {
        f"Class {n}" for n in range(10, 20)
    }
    by_id, _ = _get(viewer_client, f"{url}?group__id__exact={groups[0].pk}")
    assert [a.group for a in by_id.context["cl"].result_list] == [groups[0]]


def test_group_page_queries_do_not_grow_with_its_assigned_books(portal_admin_client):
    group = UserGroupFactory()
    url = reverse("admin:assignments_usergroup_change", args=[group.pk])
    GroupAssignment.objects.create(ebook=EBookFactory(), group=group, intent="available")
    _, few = _get(portal_admin_client, url)
    for _ in range(15):
        GroupAssignment.objects.create(ebook=EBookFactory(), group=group, intent="required")
    _, many = _get(portal_admin_client, url)
    assert len(many) == len(few)


def test_memberships_of_a_group_are_listed_in_the_unique_index_order(viewer_client):
    group = UserGroupFactory()
    people = PersonFactory.create_batch(3)
    for person in reversed(people):
        MembershipFactory(group=group, person=person)
    MembershipFactory()  # another group's
    url = reverse("admin:assignments_membership_changelist")
    response, sql = _get(viewer_client, f"{url}?group__id__exact={group.pk}")
    listed = [m.person_id for m in response.context["cl"].result_list]
    assert listed == sorted(p.pk for p in people)
    page_query = next(q for q in sql if q.startswith('SELECT "assignments_membership"."id"'))
    assert re.search(r'ORDER BY "assignments_membership"\."group_id" ASC, ', page_query)


def test_bounded_count_reads_ids_only_not_the_sort_nor_each_license_count(viewer_client):
    group = UserGroupFactory()
    for person in PersonFactory.create_batch(3):
        MembershipFactory(group=group, person=person)
    url = reverse("admin:assignments_person_changelist")
    response, sql = _get(viewer_client, f"{url}?memberships__group__id__exact={group.pk}")
    count = next(q for q in sql if q.startswith("SELECT COUNT(*)"))
    assert "ORDER BY" not in count
    assert "assignments_license" not in count  # the per-row license column
    assert response.context["cl"].result_count == 3


def test_person_page_shows_what_the_device_reported_for_an_install(portal_admin_client):
    device = DeviceFactory(owner=PersonFactory())
    InstallRequest.objects.create(
        device=device,
        ebook=EBookFactory(),
        person=device.owner,
        state=InstallRequest.State.FAILED,
        device_state="Failed",
        reason="PurchaseNotFound",
    )
    url = reverse("admin:assignments_person_change", args=[device.owner.pk])
    page = portal_admin_client.get(url).content.decode()
    assert "PurchaseNotFound" in page


def test_indexes_the_pages_need_and_none_redundant():
    with connection.cursor() as cursor:
        indexes = {
            name: info
            for table in (
                "assignments_person",
                "assignments_appleuser",
                "assignments_installrequest",
            )
            for name, info in connection.introspection.get_constraints(cursor, table).items()
            if info["index"]
        }
    # The assign preview's index-only counts (see Person.Meta and AppleUser.Meta).
    assert indexes["person_active_id"]["columns"] == ["id"]
    assert indexes["person_needs_invitation_id"]["columns"] == ["id"]
    assert indexes["apple_user_token_status"]["columns"] == ["token_id", "status", "person_id"]
    # (state, id) serves every filter on state: no index on state alone beside it.
    assert indexes["install_request_state_id"]["columns"] == ["state", "id"]
    assert "install_request_state" not in indexes


def test_book_offers_keep_no_person_index_beside_their_unique_one():
    """offer_unique (person, ebook) serves look-ups by person: a second index would only cost
    the reconciler a write per offer (100,000 for a book given to a big group)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "assignments_bookoffer")
    leading_person = sorted(
        info["columns"]
        for info in constraints.values()
        if (info["index"] or info["unique"]) and info["columns"][:1] == ["person_id"]
    )
    assert leading_person == [["person_id", "ebook_id"]]
