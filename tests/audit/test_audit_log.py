"""The audit log records who did what, from where, and how it ended; portal admins read it and
nobody can change it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from config.roles import OPERATORS
from tests.factories import GroupAssignmentFactory

pytestmark = pytest.mark.django_db
Action = AuditEntry.Action
IP = "10.20.30.40"
LIST = reverse("admin:audit_auditentry_changelist")


def _upload(client, data: bytes):
    return client.post(
        reverse("admin:tokens_vpptoken_add"),
        {
            "token_file": SimpleUploadedFile("t.vpptoken", data),
            "apple_id": "books@springfield.example",
            "account_type": "education",
            "name": "",
        },
        REMOTE_ADDR=IP,
    )


def test_token_upload_is_recorded_with_who_and_where(portal_admin_client, portal_admin, token_file):
    data = token_file()
    _upload(portal_admin_client, data)
    entry = AuditEntry.objects.get(action=Action.TOKEN_UPLOAD)
    assert (entry.actor, entry.actor_name, entry.ip_address) == (portal_admin, "portal-admins", IP)
    assert entry.outcome == AuditEntry.Outcome.OK
    assert entry.target_type == "tokens.VppToken" and entry.target_repr == "Main Library"
    assert data.decode() not in str(entry.detail)


def test_a_refused_upload_is_recorded_with_the_reason(portal_admin_client, apple):
    _upload(portal_admin_client, b"not a token")
    entry = AuditEntry.objects.get(action=Action.TOKEN_UPLOAD)
    assert entry.outcome == AuditEntry.Outcome.REFUSED
    assert "not Base64" in entry.detail["reason"]


def test_sync_now_reconcile_now_and_token_delete_are_recorded(
    portal_admin_client, operator_client, vpp_token, token_file, monkeypatch
):
    monkeypatch.setattr("sync.reconcile.queue.run_enqueue", lambda **kwargs: None)
    from tokens.services import token_import

    spare = token_import(
        file_bytes=token_file("Annex"), apple_id="a@b.example", account_type="education"
    )
    operator_client.post(reverse("admin:sync_token_sync_now", args=[vpp_token.pk]))
    operator_client.post(reverse("admin:sync_token_reconcile_now", args=[vpp_token.pk]))
    portal_admin_client.post(
        reverse("admin:tokens_vpptoken_delete", args=[spare.pk]), {"post": "yes"}
    )
    entries = AuditEntry.objects.exclude(action=Action.ROLE_CHANGE).order_by("at")
    actions = list(entries.values_list("action", "actor_name", "target_repr"))
    assert actions == [
        (Action.SYNC_NOW, "operators", "Main Library"),
        (Action.RECONCILE_NOW, "operators", "Main Library"),
        (Action.TOKEN_DELETE, "portal-admins", "Annex"),
    ]


def test_assignment_removal_and_directory_import_are_recorded(portal_admin_client):
    assignment = GroupAssignmentFactory()
    portal_admin_client.post(
        reverse("admin:assignments_groupassignment_delete", args=[assignment.pk]), {"post": "yes"}
    )
    portal_admin_client.post(
        reverse("admin:assignments_person_import"),
        {"people": SimpleUploadedFile("people.csv", b"email\nada@school.example\n")},
    )
    entries = AuditEntry.objects.exclude(action=Action.ROLE_CHANGE)
    assert set(entries.values_list("action", flat=True)) == {
        Action.ASSIGNMENT_DELETE,
        Action.DIRECTORY_IMPORT,
    }


def test_failed_sign_in_is_recorded_with_the_user_name_and_address(django_user_model):
    django_user_model.objects.create_user(username="ada", password="right-password")
    Client().post(reverse("admin:login"), {"username": "ada", "password": "wrong"}, REMOTE_ADDR=IP)
    entry = AuditEntry.objects.get(action=Action.LOGIN_FAILED)
    assert (entry.actor_name, entry.ip_address) == ("ada", IP)
    assert "wrong" not in str(entry.detail)


def test_role_changes_are_recorded(django_user_model):
    user = django_user_model.objects.create_user(username="bob", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATORS))
    user.groups.remove(Group.objects.get(name=OPERATORS))
    details = list(
        AuditEntry.objects.filter(action=Action.ROLE_CHANGE)
        .order_by("at")
        .values_list("detail", flat=True)
    )
    assert details == [{"added": [OPERATORS]}, {"removed": [OPERATORS]}]


def test_portal_admins_read_and_filter_the_log(portal_admin_client, operator_client):
    AuditEntry.objects.create(action=Action.EXPORT, actor_name="someone")
    AuditEntry.objects.create(action=Action.SYNC_NOW, actor_name="other")
    page = portal_admin_client.get(LIST, {"action__exact": Action.EXPORT}).content.decode()
    assert "someone" in page and "other" not in page
    assert operator_client.get(LIST).status_code == 403


@pytest.mark.parametrize("who", ["portal_admin_client", "admin_client"])
def test_nobody_adds_changes_or_deletes_entries(request, who):
    client = request.getfixturevalue(who)
    entry = AuditEntry.objects.create(action=Action.EXPORT, actor_name="someone")
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    client.post(change, {"actor_name": "forged", "action": Action.EXPORT})
    delete = reverse("admin:audit_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    client.post(LIST, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    entry.refresh_from_db()
    assert entry.actor_name == "someone"


def test_assignment_created_on_the_assign_page_is_recorded(portal_admin_client):
    from tests.factories import EBookFactory, UserGroupFactory

    ebook, group = EBookFactory(), UserGroupFactory()
    url = reverse("admin:assignments_assign_book", args=[ebook.pk])
    data = {"groups": [group.pk], "intent": "available"}
    preview = portal_admin_client.post(url, {**data, "_preview": "Preview"}).context["preview"]
    response = portal_admin_client.post(
        url,
        {**data, "expected": str(preview.will_consume), "confirm": "on", "_assign": "Assign"},
        REMOTE_ADDR=IP,
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=Action.ASSIGNMENT_CREATE)
    assert (entry.actor_name, entry.ip_address) == ("portal-admins", IP)
    assert entry.target_type == "assignments.GroupAssignment"


def test_a_csv_export_is_recorded(portal_admin_client, vpp_token):
    from django.contrib.auth.models import Group

    if not Group.objects.filter(permissions__codename="export_csv").exists():
        pytest.skip("no role may export here")
    url = reverse("reports:changelist_export", args=["tokens", "vpptoken"])
    response = portal_admin_client.get(url, REMOTE_ADDR=IP)
    assert response.status_code == 200
    b"".join(response.streaming_content)
    entry = AuditEntry.objects.get(action=Action.EXPORT)
    assert (entry.actor_name, entry.ip_address) == ("portal-admins", IP)
    assert entry.detail["file"].startswith("VPP")
