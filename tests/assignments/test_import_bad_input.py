"""Bad bytes in directory CSVs: a clear message naming the file and line, never an exception, and
nothing written from any file — checked case by case and as properties over generated files."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assignments.directory_import import directory_import
from assignments.models import Device, Membership, Person, UserGroup

pytestmark = pytest.mark.django_db

PEOPLE = b"email,display_name\nada@school.example,Ada\nben@school.example,Ben\n"
GROUPS = b"group_name,member_email\nReaders,ada@school.example\n"
DEVICES = b"serial_number,owner_email\nDMQ1,ada@school.example\n"


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Person, UserGroup, Membership, Device))


def _messages(outcome) -> list[str]:
    return [f"{r.name} {e}" for r in outcome.files for e in r.errors]


def test_a_nul_in_the_groups_file_names_file_and_line_and_saves_no_person():
    outcome = directory_import(
        people=PEOPLE, groups=b"group_name,member_email\nRead\x00ers,ada@school.example\n"
    )
    assert not outcome.ok
    assert _messages(outcome) == [
        "groups.csv line 2: group_name contains a NUL byte (a binary "
        "file, or one saved in UTF-16?)."
    ]
    assert _counts() == (0, 0, 0, 0)  # people.csv was fine, and still nothing of it is saved


def test_every_problem_of_a_row_is_reported():
    data = b"email,display_name,managed_apple_id,active\nnot-an-email,A\x1b,also-bad,maybe\n"
    outcome = directory_import(people=data)
    messages = [e.message for e in outcome.files[0].errors]
    assert all(e.line == 2 for e in outcome.files[0].errors)
    assert len(messages) == 4, messages
    assert "display_name contains the control character U+001B." in messages
    assert any("email “not-an-email” is not a valid" in m for m in messages)
    assert any("managed_apple_id “also-bad”" in m for m in messages)
    assert any("active “maybe” is not true or false" in m for m in messages)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'email\n"ada@school.example\nben@school.example\n', "cannot be read as CSV"),
        (b'email,display_name\nada@school.example,"Ada\nLovelace"\n', "a line break"),
        (b"email,display_name\nada@school.example," + b"x" * 200_000 + b"\n", "CSV"),
        (b"\xff\xfee\x00m\x00a\x00i\x00l\x00\n\x00", "not UTF-8"),
        (b"email,display_name\nada@school.example,A\x7f\n", "U+007F"),
    ],
)
def test_bad_bytes_get_a_clear_message(data, words):
    outcome = directory_import(people=data)
    assert not outcome.ok
    assert any(words in message for message in _messages(outcome)), _messages(outcome)
    assert _counts() == (0, 0, 0, 0)


def test_the_command_reports_a_nul_without_a_traceback(tmp_path, capsys):
    (tmp_path / "people.csv").write_bytes(b"email\nada@sch\x00ool.example\n")
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_directory", str(tmp_path / "people.csv"))
    assert "people.csv line 2: email contains a NUL byte" in capsys.readouterr().err


# --- properties ---------------------------------------------------------------------------

_NASTY = st.sampled_from(
    ["\x00", "\n", "\r", '"', ",", "\ufeff", "\x1b", "é", "\u2028", " ", "@", "x" * 300]
)
_FIELD = st.one_of(
    st.text(max_size=12),
    st.lists(_NASTY, max_size=4).map("".join),
    st.sampled_from(["ada@school.example", "ben@school.example", "S1", "true", "no", ""]),
)


def _csv(header: list[str], rows: list[list[str]], bom: bool) -> bytes:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value

    text = "\n".join(",".join(cell(v) for v in row) for row in [header, *rows]) + "\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8", errors="surrogatepass")


def _file(header: list[str]):
    rows = st.lists(st.lists(_FIELD, min_size=1, max_size=len(header) + 1), max_size=5)
    return st.builds(_csv, st.just(header), rows, st.booleans())


_ANY_BYTES = st.binary(max_size=300)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=st.one_of(_file(["email", "display_name", "external_id", "active"]), _ANY_BYTES),
    groups=st.one_of(st.none(), _file(["group_name", "member_email"]), _ANY_BYTES),
    devices=st.one_of(st.none(), _file(["serial_number", "owner_email"]), _ANY_BYTES),
)
def test_any_files_give_a_result_never_an_exception_nor_half_an_import(people, groups, devices):
    before = _counts()
    outcome = directory_import(people=people, groups=groups, devices=devices)
    if outcome.ok:
        return
    assert _counts() == before
    for result in outcome.files:
        for error in result.errors:
            assert error.line >= 1
            assert error.message and "Traceback" not in error.message
    assert any(r.errors for r in outcome.files)


def test_control_bytes_in_the_header_are_not_echoed_into_messages():
    outcome = directory_import(people=b"em\x00ail,display\x1bname\nada@school.example,A\n")
    message = outcome.files[0].errors[0].message
    assert "missing column “email”" in message
    assert "\x00" not in message and "\x1b" not in message
    assert all("\x1b" not in w for w in outcome.files[0].warnings)


def test_a_utf16_file_gets_one_clear_message():
    outcome = directory_import(people="email\nada@school.example\n".encode("utf-16"))
    assert [(e.line, e.message) for e in outcome.files[0].errors] == [
        (1, "this line is not UTF-8 text. Save the file as “CSV UTF-8”.")
    ]


def test_one_external_id_on_two_people_in_a_file_is_reported_not_raised():
    data = b"email,external_id\na@school.example,S1\nb@school.example,S1\n"
    outcome = directory_import(people=data)
    assert [(e.line, e.message) for e in outcome.files[0].errors] == [
        (3, "duplicate: this external_id is already on line 2.")
    ]
    assert not Person.objects.exists()
