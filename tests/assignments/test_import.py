"""Directory import: every bad row with its line, all-or-nothing per file, re-import updates."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from assignments.directory_import import (
    devices_import,
    directory_import,
    groups_import,
    people_import,
)
from assignments.models import Device, License, Membership, Person, UserGroup
from sync.setup import demo_directory_ensure
from tests.factories import (
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
)

pytestmark = pytest.mark.django_db

PEOPLE = b"""email,display_name,external_id,managed_apple_id,active
ada@school.example,Ada Abbott,S1,,true
ben@school.example,Ben Baker,S2,ben@appleid.school.example,yes
cy@school.example,Cy Castro,,,0
"""


def _errors(result) -> list[tuple[int, str]]:
    return [(error.line, error.message) for error in result.errors]


def test_people_are_created_with_every_column():
    result = people_import(data=PEOPLE)
    assert result.ok, result.errors
    assert result.created == 3
    ben = Person.objects.get(email="ben@school.example")
    assert (ben.display_name, ben.external_id, ben.managed_apple_id, ben.active) == (
        "Ben Baker",
        "S2",
        "ben@appleid.school.example",
        True,
    )
    assert Person.objects.get(email="cy@school.example").active is False
    assert Person.objects.get(email="cy@school.example").external_id is None


def test_reimport_updates_instead_of_duplicating():
    people_import(data=PEOPLE)
    changed = PEOPLE.replace(b"Ada Abbott", b"Ada Lovelace").replace(b"ada@", b"ADA@")
    result = people_import(data=changed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    assert Person.objects.count() == 3
    assert Person.objects.get(email="ada@school.example").display_name == "Ada Lovelace"


def test_a_file_without_a_column_keeps_that_column():
    people_import(data=PEOPLE)
    people_import(data=b"email\nada@school.example\n")
    assert Person.objects.get(email="ada@school.example").display_name == "Ada Abbott"


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_saved():
    data = b"""email,display_name,active
good@school.example,Good,true
not-an-email,Bad,true
,Nobody,true
good@school.example,Twice,true
other@school.example,Other,maybe
extra@school.example,Extra,true,surplus
"""
    result = people_import(data=data)
    assert not result.ok
    errors = _errors(result)
    assert [line for line, _ in errors] == [3, 4, 5, 6, 7]
    assert "not a valid email" in errors[0][1]
    assert "email is required" in errors[1][1]
    assert "duplicate" in errors[2][1] and "line 2" in errors[2][1]
    assert "not true or false" in errors[3][1]
    assert "values but the header" in errors[4][1]
    assert not Person.objects.exists()


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"", 1, "empty"),
        (b"   \n\n", 1, "empty"),
        (b"display_name\nAda\n", 1, "missing column \u201cemail\u201d"),
        (b"email\nada@school.example\nb\xe9@school.example\n", 3, "not UTF-8"),
        (b"email\n", 2, "no people"),
    ],
)
def test_file_level_problems_are_reported_not_raised(data, line, words):
    result = people_import(data=data)
    assert not result.ok
    assert (result.errors[0].line, words in result.errors[0].message) == (line, True)


def test_a_byte_order_mark_and_unknown_columns_are_fine():
    result = people_import(data=b"\xef\xbb\xbfEmail,Nickname\nada@school.example,A\n")
    assert result.ok
    assert result.warnings == ["Ignored unknown column(s): nickname."]
    assert Person.objects.filter(email="ada@school.example").exists()


def test_external_id_of_another_person_is_refused():
    PersonFactory(email="old@school.example", external_id="S1")
    result = people_import(data=b"email,external_id\nnew@school.example,S1\n")
    assert _errors(result) == [
        (2, "external_id \u201cS1\u201d already belongs to old@school.example.")
    ]


GROUPS = b"""group_name,description,group_external_id,member_email
Grade 9,Ninth grade,G9,ada@school.example
Grade 9,,G9,ben@school.example
Teachers,,,cy@school.example
Drama club,,,
"""


def test_groups_and_memberships_are_created():
    people_import(data=PEOPLE)
    result = groups_import(data=GROUPS)
    assert result.ok, result.errors
    assert (result.created, result.members_added) == (3, 3)
    grade9 = UserGroup.objects.get(external_id="G9")
    assert grade9.description == "Ninth grade"
    assert set(grade9.members.values_list("email", flat=True)) == {
        "ada@school.example",
        "ben@school.example",
    }
    assert not UserGroup.objects.get(name="Drama club").members.exists()


def test_group_reimport_replaces_members_keeps_licenses_and_signals(
    django_capture_on_commit_callbacks, wanted_changes
):
    people_import(data=PEOPLE)
    groups_import(data=GROUPS)
    grade9 = UserGroup.objects.get(external_id="G9")
    ebook = EBookFactory()
    GroupAssignmentFactory(ebook=ebook, group=grade9)
    ben = Person.objects.get(email="ben@school.example")
    licence = LicenseFactory(ebook=ebook, person=ben)

    without_ben = b"\n".join(line for line in GROUPS.split(b"\n") if b"ben@" not in line)
    with django_capture_on_commit_callbacks(execute=True):
        result = groups_import(data=without_ben)
    assert result.ok, result.errors
    assert (result.members_removed, result.created, UserGroup.objects.count()) == (1, 0, 3)
    assert not Membership.objects.filter(group=grade9, person=ben).exists()
    licence.refresh_from_db()
    assert licence.kept is True
    assert License.objects.count() == 1
    assert wanted_changes == [[ebook.token_id]]


def test_group_external_id_is_the_key_so_groups_can_be_renamed():
    people_import(data=PEOPLE)
    groups_import(data=GROUPS)
    result = groups_import(data=GROUPS.replace(b"Grade 9,", b"Year 10,"))
    assert result.ok, result.errors
    assert UserGroup.objects.get(external_id="G9").name == "Year 10"
    assert not UserGroup.objects.filter(name="Grade 9").exists()


def test_group_rows_with_unknown_members_fail_the_whole_file():
    people_import(data=PEOPLE)
    data = GROUPS + b"Teachers,,,nobody@school.example\nGrade 9,,G9,ada@school.example\n"
    result = groups_import(data=data)
    assert _errors(result) == [
        (6, "unknown member_email nobody@school.example: no such person. Add them to people.csv."),
        (7, "duplicate: ada@school.example is already a member of \u201cGrade 9\u201d on line 2."),
    ]
    assert not UserGroup.objects.exists()
    assert not Membership.objects.exists()


def test_groups_file_without_group_name_column_is_reported():
    result = groups_import(data=b"name,member_email\nGrade 9,ada@school.example\n")
    assert result.errors[0].line == 1
    assert "group_name" in result.errors[0].message


DEVICES = b"""serial_number,name,model,os_version,owner_email,has_books_app
dmq1,Ada's iPad,iPad Air,17.5,ada@school.example,true
DMQ2,Cart iPad,iPad,18.1,,false
"""


def test_devices_are_upserted_by_serial_number():
    people_import(data=PEOPLE)
    result = devices_import(data=DEVICES)
    assert result.ok, result.errors
    ada_ipad = Device.objects.get(serial_number="DMQ1")
    assert ada_ipad.owner.email == "ada@school.example"
    assert Device.objects.get(serial_number="DMQ2").has_books_app is False
    result = devices_import(data=DEVICES.replace(b"18.1,,false", b"18.2,,true"))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    cart = Device.objects.get(serial_number="DMQ2")
    assert (cart.os_version, cart.has_books_app, Device.objects.count()) == ("18.2", True, 2)


def test_devices_with_unknown_owner_or_bad_boolean_fail_the_file():
    data = DEVICES + b"DMQ3,,,,nobody@school.example,true\nDMQ4,,,,,sometimes\nDMQ1,,,,,true\n"
    people_import(data=PEOPLE)
    result = devices_import(data=data)
    assert [line for line, _ in _errors(result)] == [4, 5, 6]
    assert "unknown owner_email" in result.errors[0].message
    assert "duplicate" in result.errors[2].message
    assert not Device.objects.exists()


def test_one_bad_file_saves_nothing_from_any_file_and_every_file_is_checked():
    outcome = directory_import(
        people=PEOPLE + b"not-an-email,,,,\n",
        groups=GROUPS,
        devices=DEVICES + b"DMQ9,,,,,sometimes\n",
    )
    assert not outcome.ok
    assert [r.ok for r in outcome.files] == [False, True, False]
    assert not Person.objects.exists()
    assert not UserGroup.objects.exists()
    assert not Device.objects.exists()


def test_command_imports_and_reports(tmp_path, capsys):
    for name, data in (("people.csv", PEOPLE), ("groups.csv", GROUPS), ("devices.csv", DEVICES)):
        (tmp_path / name).write_bytes(data)
    call_command(
        "import_directory",
        str(tmp_path / "people.csv"),
        "--groups",
        str(tmp_path / "groups.csv"),
        "--devices",
        str(tmp_path / "devices.csv"),
    )
    out = capsys.readouterr().out
    assert "people.csv: 3 created" in out
    assert "groups.csv: 3 created" in out
    assert "devices.csv: 2 created" in out


def test_command_lists_bad_rows_and_fails(tmp_path, capsys):
    (tmp_path / "people.csv").write_bytes(b"email\nada@school.example\nnope\n")
    with pytest.raises(CommandError):
        call_command("import_directory", str(tmp_path / "people.csv"))
    assert (
        "people.csv line 3: email \u201cnope\u201d is not a valid email" in capsys.readouterr().err
    )
    assert not Person.objects.exists()


def test_command_help_documents_the_columns(capsys):
    with pytest.raises(SystemExit):
        call_command("import_directory", "--help")
    out = capsys.readouterr().out
    for column in ("managed_apple_id", "member_email", "group_external_id", "has_books_app"):
        assert column in out


def test_demo_directory_imports_once_on_first_start():
    summary = demo_directory_ensure()
    assert summary and "people.csv: 300 created" in summary
    assert UserGroup.objects.count() >= 12
    assert Person.objects.exclude(managed_apple_id="").exists()
    assert Device.objects.filter(has_books_app=False).exists()
    assert Device.objects.filter(has_books_app=True).exists()
    assert demo_directory_ensure() is None


def test_large_people_file_is_written_in_bulk(django_assert_max_num_queries):
    rows = "".join(f"p{n}@school.example,Person {n}\n" for n in range(5000))
    data = ("email,display_name\n" + rows).encode()
    # Batches are capped by the database (SQLite: 999 parameters a statement), never per row.
    with django_assert_max_num_queries(60):
        result = people_import(data=data)
    assert result.created == 5000
