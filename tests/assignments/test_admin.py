"""Directory and assignment pages: what each role may do, the assign page, kept licenses."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assignments.models import GroupAssignment, License, Membership, Person
from tests.factories import (
    AppleUserFactory,
    DeviceFactory,
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "person",
    "usergroup",
    "membership",
    "device",
    "appleuser",
    "license",
    "groupassignment",
]
IMPORT = reverse("admin:assignments_person_import")


def _assign_url(ebook) -> str:
    return reverse("admin:assignments_assign_book", args=[ebook.pk])


@pytest.fixture
def directory():
    """A book, a group of four (one holds the book already) and one excluded member."""
    ebook = EBookFactory(title="The Periodic Table", total_count=10, available_count=2)
    people = PersonFactory.create_batch(4)
    group = UserGroupFactory(name="Grade 9", members=people)
    excluded = UserGroupFactory(name="Opted out", members=people[3:])
    LicenseFactory(ebook=ebook, person=people[0])
    return ebook, group, excluded, people


@pytest.mark.parametrize("client_name", ["portal_admin_client", "operator_client", "viewer_client"])
@pytest.mark.parametrize("model", CHANGELISTS)
def test_every_role_can_read_the_lists(request, client_name, model):
    client = request.getfixturevalue(client_name)
    PersonFactory()
    response = client.get(reverse(f"admin:assignments_{model}_changelist"))
    assert response.status_code == 200


def test_anonymous_users_see_nothing(client):
    response = client.get(reverse("admin:assignments_person_changelist"))
    assert response.status_code == 302


@pytest.mark.parametrize("client_name", ["operator_client", "viewer_client"])
def test_only_portal_admins_edit_the_directory(request, client_name):
    client = request.getfixturevalue(client_name)
    person = PersonFactory()
    assert client.get(reverse("admin:assignments_person_add")).status_code == 403
    response = client.post(
        reverse("admin:assignments_person_change", args=[person.pk]),
        {"email": "changed@school.example", "display_name": "x", "active": "on"},
    )
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.email != "changed@school.example"


def test_people_list_search_and_filters(portal_admin_client):
    PersonFactory(email="ada@school.example", display_name="Ada Abbott", managed=True)
    PersonFactory(email="ben@school.example", display_name="Ben Baker")
    url = reverse("admin:assignments_person_changelist")
    page = portal_admin_client.get(url, {"q": "ada"}).content.decode()
    assert "ada@school.example" in page and "ben@school.example" not in page
    page = portal_admin_client.get(url, {"q": "Ben"}).content.decode()
    assert "ben@school.example" in page and "ada@school.example" not in page
    page = portal_admin_client.get(url, {"managed": "no"}).content.decode()
    assert "ben@school.example" in page and "ada@school.example" not in page


def test_people_list_is_a_fixed_number_of_queries(
    portal_admin_client, django_assert_max_num_queries
):
    for person in PersonFactory.create_batch(30):
        LicenseFactory(person=person)
    url = reverse("admin:assignments_person_changelist")
    portal_admin_client.get(url)  # warm the session and permission caches
    with django_assert_max_num_queries(8):
        response = portal_admin_client.get(url)
    assert response.status_code == 200


def test_person_page_shows_apple_users_licenses_kept_and_errors(portal_admin_client):
    person = PersonFactory()
    DeviceFactory(owner=person, serial_number="DMQ42")
    kept = LicenseFactory(person=person, kept=True, ebook=EBookFactory(title="Kept Book"))
    LicenseFactory(
        person=person,
        ebook=EBookFactory(title="Short Book"),
        state=License.State.FAILED,
        error_number=9709,
        error_message="Insufficient licenses",
    )
    AppleUserFactory(token=kept.token, person=person)
    page = portal_admin_client.get(
        reverse("admin:assignments_person_change", args=[person.pk])
    ).content.decode()
    for text in (
        "Kept Book",
        "Short Book",
        "DMQ42",
        "There are not enough licenses left",
        "Invited",
    ):
        assert text in page


def test_import_page_is_for_portal_admins_only(operator_client, viewer_client):
    assert operator_client.get(IMPORT).status_code == 403
    assert viewer_client.post(IMPORT, {}).status_code == 403
    page = operator_client.get(reverse("admin:assignments_person_changelist")).content.decode()
    assert IMPORT not in page


@pytest.fixture
def import_in_worker(monkeypatch, django_capture_on_commit_callbacks):
    """Post to the import page and let the queued task run, as a worker would, after commit."""
    from assignments.directory_import.runs import directory_import_execute

    monkeypatch.setattr(
        "assignments.tasks.directory_import_run.delay",
        lambda run_id: directory_import_execute(run_id=run_id),
    )

    def post(client, files: dict):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(IMPORT, files)
        assert response.status_code == 302, response.content.decode()[:2000]
        return client.get(response["Location"]).content.decode()

    return post


def test_portal_admin_imports_from_the_page(portal_admin_client, import_in_worker):
    page = portal_admin_client.get(reverse("admin:assignments_person_changelist")).content.decode()
    assert IMPORT in page
    page = portal_admin_client.get(IMPORT).content.decode()
    assert "managed_apple_id" in page and "member_email" in page and "has_books_app" in page
    page = import_in_worker(
        portal_admin_client,
        {"people": SimpleUploadedFile("people.csv", b"email\nada@school.example\n")},
    )
    assert "people.csv: 1 created" in page.lower()
    assert Person.objects.filter(email="ada@school.example").exists()


def test_import_page_lists_bad_rows_with_line_numbers(portal_admin_client, import_in_worker):
    page = import_in_worker(
        portal_admin_client,
        {"people": SimpleUploadedFile("people.csv", b"email\nok@school.example\nbroken\n")},
    )
    assert "people.csv line 3" in page and "not a valid email" in page
    assert not Person.objects.exists()


def test_import_page_survives_a_binary_file(portal_admin_client, import_in_worker):
    page = import_in_worker(
        portal_admin_client,
        {"people": SimpleUploadedFile("people.csv", b"\xff\xfe\x00\x01garbage")},
    )
    assert "not UTF-8" in page


@pytest.mark.parametrize("client_name", ["operator_client", "viewer_client"])
def test_only_portal_admins_reach_the_assign_page(request, client_name, directory):
    client = request.getfixturevalue(client_name)
    ebook, group, _, _ = directory
    assert client.get(_assign_url(ebook)).status_code == 403
    response = client.post(
        _assign_url(ebook),
        {
            "groups": [group.pk],
            "intent": "available",
            "confirm": "on",
            "expected": "2",
            "_assign": "Assign",
        },
    )
    assert response.status_code == 403
    assert not GroupAssignment.objects.exists()


def test_assign_page_has_no_device_path_and_says_why(portal_admin_client, directory):
    ebook = directory[0]
    response = portal_admin_client.get(_assign_url(ebook))
    assert response.status_code == 200
    form = response.context["form"]
    assert not any("device" in name for name in form.fields)
    assert set(form.fields) == {"groups", "intent", "excluded_groups", "cap", "expected", "confirm"}
    page = response.content.decode()
    assert "no way to pick devices or device groups" in page
    assert "The Periodic Table" in page


def test_preview_first_then_confirmed_assign(
    portal_admin_client, directory, django_capture_on_commit_callbacks, wanted_changes
):
    ebook, group, excluded, _ = directory
    data = {"groups": [group.pk], "excluded_groups": [excluded.pk], "intent": "required"}
    response = portal_admin_client.post(_assign_url(ebook), {**data, "_preview": "Preview"})
    page = response.content.decode()
    preview = response.context["preview"]
    # 4 members - 1 excluded = 3 targeted; 1 already holds it; 2 available.
    assert (preview.targeted, preview.already_held, preview.will_consume) == (3, 1, 2)
    assert "can never be reclaimed" in page
    assert "I understand these 2 licenses can never be taken back" in page
    assert not GroupAssignment.objects.exists()

    # Assigning without ticking the box saves nothing.
    response = portal_admin_client.post(
        _assign_url(ebook), {**data, "expected": "2", "_assign": "Assign"}
    )
    assert "Tick the box" in response.content.decode()
    assert not GroupAssignment.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = portal_admin_client.post(
            _assign_url(ebook), {**data, "expected": "2", "confirm": "on", "_assign": "Assign"}
        )
    assert response.status_code == 302
    assignment = GroupAssignment.objects.get()
    assert (assignment.group, assignment.intent) == (group, "required")
    assert list(assignment.excluded_groups.all()) == [excluded]
    assert wanted_changes == [[ebook.token_id]]


def test_assign_refuses_when_the_numbers_changed_since_the_preview(portal_admin_client, directory):
    ebook, group, _, _ = directory
    response = portal_admin_client.post(
        _assign_url(ebook),
        {
            "groups": [group.pk],
            "intent": "available",
            "expected": "1",
            "confirm": "on",
            "_assign": "Assign",
        },
    )
    assert "numbers changed" in response.content.decode()
    assert not GroupAssignment.objects.exists()


def test_assign_page_refuses_a_book_that_left_the_token(portal_admin_client, directory):
    _, group, _, _ = directory
    gone = EBookFactory(gone=True)
    response = portal_admin_client.post(
        _assign_url(gone),
        {
            "groups": [group.pk],
            "intent": "available",
            "expected": "2",
            "confirm": "on",
            "_assign": "Assign",
        },
    )
    assert "no longer in its token" in response.content.decode()
    assert not GroupAssignment.objects.exists()


def test_add_starts_from_choosing_a_book(portal_admin_client, directory):
    ebook = directory[0]
    response = portal_admin_client.get(reverse("admin:assignments_groupassignment_add"))
    assert response.url == reverse("admin:assignments_assign_choose")
    response = portal_admin_client.get(response.url, {"ebook": ebook.pk})
    assert response.url == _assign_url(ebook)


def test_removing_an_assignment_warns_then_keeps_licenses(
    portal_admin_client, directory, django_capture_on_commit_callbacks, wanted_changes
):
    ebook, group, _, people = directory
    assignment = GroupAssignmentFactory(ebook=ebook, group=group)
    url = reverse("admin:assignments_groupassignment_delete", args=[assignment.pk])
    page = portal_admin_client.get(url).content.decode()
    assert "Licenses already given stay with the people" in page
    with django_capture_on_commit_callbacks(execute=True):
        portal_admin_client.post(url, {"post": "yes"})
    assert not GroupAssignment.objects.exists()
    licence = License.objects.get(person=people[0])
    assert (licence.kept, licence.state) == (True, License.State.ASSIGNED)
    assert wanted_changes == [[ebook.token_id]]


def test_operator_cannot_remove_an_assignment(operator_client, directory):
    ebook, group, _, _ = directory
    assignment = GroupAssignmentFactory(ebook=ebook, group=group)
    url = reverse("admin:assignments_groupassignment_delete", args=[assignment.pk])
    assert operator_client.post(url, {"post": "yes"}).status_code == 403
    assert GroupAssignment.objects.exists()


def test_removing_a_member_on_the_group_page_keeps_their_license(
    portal_admin_client, directory, django_capture_on_commit_callbacks, wanted_changes
):
    ebook, group, _, people = directory
    GroupAssignmentFactory(ebook=ebook, group=group)
    memberships = list(Membership.objects.filter(group=group).order_by("pk"))
    data = {
        "name": group.name,
        "description": "",
        "external_id": "",
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
    }
    for index, membership in enumerate(memberships):
        data[f"memberships-{index}-id"] = str(membership.pk)
        data[f"memberships-{index}-group"] = str(group.pk)
        data[f"memberships-{index}-person"] = str(membership.person_id)
    holder = next(i for i, m in enumerate(memberships) if m.person_id == people[0].pk)
    data[f"memberships-{holder}-DELETE"] = "on"
    with django_capture_on_commit_callbacks(execute=True):
        response = portal_admin_client.post(
            reverse("admin:assignments_usergroup_change", args=[group.pk]), data
        )
    assert response.status_code == 302, response.context["errors"]
    assert not Membership.objects.filter(group=group, person=people[0]).exists()
    assert License.objects.get(person=people[0]).kept is True
    assert wanted_changes == [[ebook.token_id]]


def test_group_page_with_many_members_does_not_list_them_inline(portal_admin_client, settings):
    from assignments import admin as assignments_admin

    group = UserGroupFactory(
        members=PersonFactory.create_batch(assignments_admin.INLINE_MEMBER_LIMIT + 1)
    )
    response = portal_admin_client.get(
        reverse("admin:assignments_usergroup_change", args=[group.pk])
    )
    page = response.content.decode()
    assert "Too many to list here" in page
    assert f"?group__id__exact={group.pk}" in page


def test_membership_delete_action_keeps_licenses(portal_admin_client, directory):
    ebook, group, _, people = directory
    GroupAssignmentFactory(ebook=ebook, group=group)
    membership = Membership.objects.get(group=group, person=people[0])
    page = portal_admin_client.post(
        reverse("admin:assignments_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [membership.pk]},
    ).content.decode()
    assert "Licenses already given stay with the people" in page
    portal_admin_client.post(
        reverse("admin:assignments_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [membership.pk], "post": "yes"},
    )
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert License.objects.get(person=people[0]).kept is True


def test_assignment_list_filters(portal_admin_client, directory):
    ebook, group, _, _ = directory
    GroupAssignmentFactory(ebook=ebook, group=group, intent="required")
    url = reverse("admin:assignments_groupassignment_changelist")
    for query in (
        {"intent__exact": "required"},
        {"group__id__exact": group.pk},
        {"ebook__token__id__exact": ebook.token_id},
        {"ebook__id__exact": ebook.pk},
    ):
        response = portal_admin_client.get(url, query)
        assert response.status_code == 200
        assert "The Periodic Table" in response.content.decode()


def test_group_and_person_pickers_autocomplete(portal_admin_client):
    UserGroupFactory(name="Science club")
    PersonFactory(email="ada@school.example")
    url = reverse("admin:autocomplete")
    groups = portal_admin_client.get(
        url,
        {
            "app_label": "assignments",
            "model_name": "groupassignment",
            "field_name": "excluded_groups",
            "term": "Scien",
        },
    ).json()
    assert [r["text"] for r in groups["results"]] == ["Science club"]
    people = portal_admin_client.get(
        url,
        {
            "app_label": "assignments",
            "model_name": "membership",
            "field_name": "person",
            "term": "ad",
        },
    ).json()
    assert len(people["results"]) == 1
    assert "ada@school.example" in people["results"][0]["text"]


def test_big_lists_never_count_the_whole_table(portal_admin_client, monkeypatch):
    from assignments.admin import BoundedCountPaginator

    monkeypatch.setattr(BoundedCountPaginator, "COUNT_LIMIT", 5)
    PersonFactory.create_batch(8)
    response = portal_admin_client.get(reverse("admin:assignments_person_changelist"))
    assert response.context["cl"].result_count == 5
