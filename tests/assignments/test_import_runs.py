"""Imports from the page run as a task with progress: the page answers at once, an import that
would use licenses waits for the count to be confirmed, a broker that is down is said plainly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assignments.directory_import.runs import QUEUE_DOWN, directory_import_execute
from assignments.models import DirectoryImport, GroupAssignment, Membership, Person
from tests.factories import (
    EBookFactory,
    GroupAssignmentFactory,
    PersonFactory,
    UserGroupFactory,
)

IMPORT = reverse("admin:assignments_person_import")
State = DirectoryImport.State


def _run_url(run) -> str:
    return reverse("admin:assignments_person_import_run", args=[run.pk])


@pytest.fixture
def queued(monkeypatch):
    """Task messages, captured instead of sent to the broker."""
    sent: list[int] = []
    monkeypatch.setattr("assignments.tasks.directory_import_run.delay", sent.append)
    return sent


@pytest.mark.django_db
def test_the_page_answers_at_once_and_the_task_does_the_import(
    portal_admin_client, queued, django_capture_on_commit_callbacks
):
    people = SimpleUploadedFile("people.csv", b"email\nada@school.example\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = portal_admin_client.post(IMPORT, {"people": people})
    run = DirectoryImport.objects.get()
    assert response["Location"] == _run_url(run)
    assert queued == [run.pk]  # the id only: the file waits on disk, not in the message
    page = portal_admin_client.get(_run_url(run)).content.decode()
    assert "Queued" in page and 'http-equiv="refresh"' in page and "<progress" in page
    assert not Person.objects.exists()

    directory_import_execute(run_id=run.pk)  # what the worker does
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED
    assert (run.bytes_done, run.bytes_total) == (run.bytes_total, len(people))
    assert Person.objects.filter(email="ada@school.example").exists()
    assert not Path(run.folder or "/nonexistent").exists()
    page = portal_admin_client.get(_run_url(run)).content.decode()
    assert "people.csv: 1 created" in page and 'http-equiv="refresh"' not in page


@pytest.mark.django_db
def test_an_import_that_uses_licenses_waits_for_the_count_to_be_confirmed(
    portal_admin_client, queued, django_capture_on_commit_callbacks
):
    ebook = EBookFactory(title="The Periodic Table", available_count=10)
    group = UserGroupFactory(name="Grade 9")
    GroupAssignmentFactory(ebook=ebook, group=group, intent=GroupAssignment.Intent.REQUIRED)
    PersonFactory(email="ada@school.example")
    groups = b"group_name,member_email\nGrade 9,ada@school.example\n"
    with django_capture_on_commit_callbacks(execute=True):
        portal_admin_client.post(IMPORT, {"groups": SimpleUploadedFile("groups.csv", groups)})
    run = DirectoryImport.objects.get()
    directory_import_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.state, run.licenses) == (State.NEEDS_CONFIRMATION, 1)
    assert not Membership.objects.exists()
    page = portal_admin_client.get(_run_url(run)).content.decode()
    assert "permanently use" in page and 'id="license-count">1<' in page

    # Not ticked: still waiting, nothing saved.
    portal_admin_client.post(_run_url(run), {"_confirm_licenses": "1"})
    run.refresh_from_db()
    assert run.state == State.NEEDS_CONFIRMATION
    # A count other than the one shown is refused too.
    portal_admin_client.post(_run_url(run), {"_confirm_licenses": "5", "confirm": "on"})
    run.refresh_from_db()
    assert run.state == State.NEEDS_CONFIRMATION

    with django_capture_on_commit_callbacks(execute=True):
        portal_admin_client.post(_run_url(run), {"_confirm_licenses": "1", "confirm": "on"})
    assert queued == [run.pk, run.pk]
    directory_import_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED
    assert Membership.objects.filter(group=group).count() == 1


@pytest.mark.django_db
def test_broker_down_fails_the_run_with_a_plain_message(
    portal_admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(run_id):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr("assignments.tasks.directory_import_run.delay", refuse)
    people = SimpleUploadedFile("people.csv", b"email\nada@school.example\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = portal_admin_client.post(IMPORT, {"people": people})
    assert response.status_code == 302
    run = DirectoryImport.objects.get()
    assert (run.state, run.error) == (State.FAILED, QUEUE_DOWN)
    assert QUEUE_DOWN in portal_admin_client.get(_run_url(run)).content.decode()


@pytest.mark.django_db
def test_only_importers_see_an_import(operator_client, viewer_client):
    run = DirectoryImport.objects.create(files=["people"])
    assert operator_client.get(_run_url(run)).status_code == 403
    assert viewer_client.post(_run_url(run), {"confirm": "on"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_import(portal_admin_client, live_worker):
    people = SimpleUploadedFile("people.csv", b"email\nada@school.example\nben@school.example\n")
    portal_admin_client.post(IMPORT, {"people": people})
    run = DirectoryImport.objects.get()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.active:
            break
        time.sleep(0.1)  # polling the worker's progress, with a deadline
    assert run.state == State.SUCCEEDED, (run.state, run.error, run.problems)
    assert Person.objects.count() == 2


@pytest.mark.django_db
def test_an_import_left_unconfirmed_for_a_day_gives_up_and_its_files_go(
    portal_admin_client, queued, tmp_path
):
    from datetime import timedelta

    from django.utils import timezone

    folder = tmp_path / "waiting"
    folder.mkdir()
    (folder / "groups.csv").write_bytes(b"group_name\nA\n")
    old = DirectoryImport.objects.create(
        state=State.NEEDS_CONFIRMATION,
        folder=str(folder),
        files=["groups"],
        finished_at=timezone.now() - timedelta(days=2),
    )
    portal_admin_client.post(
        IMPORT, {"people": SimpleUploadedFile("p.csv", b"email\na@b.example\n")}
    )
    old.refresh_from_db()
    assert old.state == State.FAILED and "Not confirmed within a day" in old.error
    assert not folder.exists()
