"""`manage.py vpp_assign`: the admin's preview on the command line; nothing saved without --yes."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from assignments.models import GroupAssignment
from tests.factories import EBookFactory, LicenseFactory, PersonFactory, UserGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book_and_group():
    ebook = EBookFactory(adam_id="1234567", available_count=3)
    people = PersonFactory.create_batch(5)
    LicenseFactory(ebook=ebook, person=people[0])
    return ebook, UserGroupFactory(name="Grade 9", members=people)


def _run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("vpp_assign", *args, stdout=out)
    return out.getvalue()


def test_prints_the_preview_and_saves_nothing_without_yes(book_and_group):
    out = _run("--adam-id", "1234567", "--group", "Grade 9", "--intent", "available")
    assert "5 people are targeted" in out
    assert "1 of them already holds" in out
    assert "permanently use 3 licenses" in out
    assert "Shortfall: 1 person" in out
    assert "never be reclaimed" in out
    assert "Nothing saved" in out
    assert not GroupAssignment.objects.exists()


def test_yes_assigns_and_signals(
    book_and_group, django_capture_on_commit_callbacks, wanted_changes
):
    ebook, group = book_and_group
    with django_capture_on_commit_callbacks(execute=True):
        out = _run("--adam-id", "1234567", "--group", "Grade 9", "--intent", "required", "--yes")
    assert "Assigned" in out
    assignment = GroupAssignment.objects.get()
    assert (assignment.ebook, assignment.group, assignment.intent) == (ebook, group, "required")
    assert wanted_changes == [[ebook.token_id]]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--adam-id", "999", "--group", "Grade 9"], "No book with adamId 999"),
        (["--adam-id", "1234567", "--group", "Nobody"], "No user group is named"),
        (["--adam-id", "1234567", "--group", "Grade 9", "--pricing", "PLUS"], "No book"),
    ],
)
def test_clear_errors_for_unknown_book_or_group(book_and_group, args, words):
    with pytest.raises(CommandError, match=words):
        _run(*args, "--intent", "available")


@pytest.mark.usefixtures("book_and_group")
def test_same_book_in_two_tokens_needs_token():
    other = EBookFactory(adam_id="1234567")
    with pytest.raises(CommandError, match=r"several tokens.*--token"):
        _run("--adam-id", "1234567", "--group", "Grade 9", "--intent", "available")
    _run(
        "--adam-id",
        "1234567",
        "--group",
        "Grade 9",
        "--intent",
        "available",
        "--token",
        str(other.token_id),
        "--yes",
    )
    assert GroupAssignment.objects.get().ebook == other


def test_two_editions_need_pricing(book_and_group):
    ebook, _ = book_and_group
    EBookFactory(adam_id="1234567", token=ebook.token, pricing_param="PLUS")
    with pytest.raises(CommandError, match="--pricing"):
        _run("--adam-id", "1234567", "--group", "Grade 9", "--intent", "available")
    _run(
        "--adam-id",
        "1234567",
        "--pricing",
        "STDQ",
        "--group",
        "Grade 9",
        "--intent",
        "available",
        "--yes",
    )
    assert GroupAssignment.objects.get().ebook == ebook


def test_gone_book_is_refused():
    EBookFactory(adam_id="555", gone=True)
    UserGroupFactory(name="Grade 9")
    with pytest.raises(CommandError, match="no longer in its token"):
        _run("--adam-id", "555", "--group", "Grade 9", "--intent", "available", "--yes")
    assert not GroupAssignment.objects.exists()
