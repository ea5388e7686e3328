"""Book page, person ledger, leavers and the invitation funnel on crafted data."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assignments.models import AppleUser, GroupAssignment, InstallRequest, License
from tests.factories import (
    AppleUserFactory,
    DeviceFactory,
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
)
from tests.reports.conftest import figures

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict]:
    return list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff")))
    )


# --- book page ------------------------------------------------------------------------------


def test_book_page_counts_link_to_the_licenses_behind_them(district, viewer_client):
    page = viewer_client.get(reverse("admin:ebooks_ebook_change", args=[district.low.pk]))
    html = page.content.decode()
    shown = figures(html)
    assert shown["holders"][0] == 1  # Alice
    assert shown["waiting"][0] == 1
    assert shown["failed"][0] == 1
    assert shown["shortfall"][0] == 0
    holders = viewer_client.get(shown["holders"][1]).content.decode()
    assert "alice@x.example" in holders
    assert "Year 7" in html and "Available" in html  # the assignment and its intent
    assert "running low" in html
    assert "cover" in html


def test_book_page_install_summary_by_person_and_device(viewer_client):
    book = EBookFactory()
    people = [PersonFactory() for _ in range(3)]
    for person in people:
        LicenseFactory(ebook=book, person=person)
    a, b = DeviceFactory(owner=people[0]), DeviceFactory(owner=people[0])
    InstallRequest.objects.create(device=a, ebook=book, person=people[0], state="installed")
    InstallRequest.objects.create(device=b, ebook=book, person=people[0], state="failed")
    InstallRequest.objects.create(
        device=DeviceFactory(owner=people[1]), ebook=book, person=people[1], state="pending"
    )
    from reports.selectors import book_report

    report = book_report(ebook=book)
    assert report.installs_by_state == {"installed": 1, "failed": 1, "pending": 1}
    assert report.install_people["installed"] == 1
    assert report.install_people["failed"] == 1
    assert report.install_people["pending"] == 1
    assert report.install_people["not_installed"] == 2  # people[1] and people[2]
    html = viewer_client.get(reverse("admin:ebooks_ebook_change", args=[book.pk])).content.decode()
    failed = html[html.index('data-state="failed"') :]
    assert "<td>1</td>" in failed[: failed.index("</tr>")]  # one person
    not_installed = html[html.index('data-state="not_installed"') :]
    assert "<td>2</td>" in not_installed[: not_installed.index("</tr>")]


def test_book_page_lists_people_waiting_and_the_shortfall(viewer_client):
    book = EBookFactory(total_count=1, assigned_count=1, available_count=0)
    waiting = LicenseFactory(ebook=book, state=License.State.WAITING_INVITATION)
    LicenseFactory(ebook=book, state=License.State.NOT_ENOUGH)
    html = viewer_client.get(reverse("admin:ebooks_ebook_change", args=[book.pk])).content.decode()
    assert waiting.person.email in html
    assert figures(html)["shortfall"][0] == 1


def test_book_page_stays_within_a_query_budget(
    district, viewer_client, django_assert_max_num_queries
):
    url = reverse("admin:ebooks_ebook_change", args=[district.low.pk])
    with django_assert_max_num_queries(30):
        assert viewer_client.get(url).status_code == 200


# --- ledger ---------------------------------------------------------------------------------


def test_ledger_shows_token_since_assignment_kept_and_installs(district, viewer_client):
    url = reverse("admin:assignments_person_change", args=[district.alice.pk])
    html = viewer_client.get(url).content.decode()
    ledger = html[html.index("report-ledger") :]
    assert "Low Book" in ledger and "Main" in ledger
    assert "Year 7" in ledger and "(Available)" in ledger
    assert "Installed" in ledger
    bob = viewer_client.get(reverse("admin:assignments_person_change", args=[district.bob.pk]))
    bob_ledger = bob.content.decode()[bob.content.decode().index("report-ledger") :]
    assert "Plenty Book" in bob_ledger
    assert "yes — kept" in bob_ledger
    assert "no current assignment" in bob_ledger


def test_ledger_exports_the_same_rows(district, viewer_client):
    rows = _csv(viewer_client.get(reverse("reports:ledger_export", args=[district.bob.pk])))
    assert [(r["book"], r["kept"], r["token"]) for r in rows] == [("Plenty Book", "yes", "Main")]


def test_person_page_stays_within_a_query_budget(
    district, viewer_client, django_assert_max_num_queries
):
    url = reverse("admin:assignments_person_change", args=[district.alice.pk])
    with django_assert_max_num_queries(30):
        assert viewer_client.get(url).status_code == 200


# --- leavers --------------------------------------------------------------------------------


def test_leavers_lists_inactive_people_who_still_hold_licenses(district, viewer_client):
    extra = PersonFactory(email="dan@x.example", active=False)
    LicenseFactory(person=extra, ebook=district.low)
    LicenseFactory(person=extra, ebook=district.plenty, state=License.State.PENDING)
    html = viewer_client.get(reverse("reports:leavers")).content.decode()
    assert figures(html)["leavers"][0] == 2
    assert "bob@x.example" in html and "dan@x.example" in html
    assert "carol@x.example" not in html  # her only license failed: she holds nothing
    assert "alice@x.example" not in html  # still here
    rows = _csv(viewer_client.get(reverse("reports:leavers"), {"format": "csv"}))
    dan = next(r for r in rows if r["email"] == "dan@x.example")
    assert dan["licenses held"] == "2"
    assert dan["books"] == "Low Book; Plenty Book"
    assert {r["email"] for r in rows} == {"bob@x.example", "dan@x.example"}


def test_the_leavers_export_reads_the_same_people_whatever_its_chunk(district):
    """Chunks are ranges of inactive people's emails; one may hold no leaver at all (Carol's
    only license failed), and the next range still follows."""
    from reports.selectors import leavers_iter

    extra = PersonFactory(email="dan@x.example", active=False)
    LicenseFactory(person=extra, ebook=district.low)
    whole = list(leavers_iter())

    assert [leaver.email for leaver in whole] == ["bob@x.example", "dan@x.example"]
    assert list(leavers_iter(chunk=1)) == list(leavers_iter(chunk=2)) == whole


# --- funnel ---------------------------------------------------------------------------------


@pytest.fixture
def funnel_book():
    """Six people targeted, each stuck at a different step (one made it all the way)."""
    book = EBookFactory(title="Funnel Book")
    token = book.token
    people = [PersonFactory(email=f"f{i}@x.example") for i in range(6)]
    group = UserGroupFactory(name="Readers", members=people)
    GroupAssignmentFactory(ebook=book, group=group)
    now = timezone.now()
    # f0: targeted only. f1: invited. f2: joined, waiting for a license.
    AppleUserFactory(token=token, person=people[1], invitation_sent_at=now - timedelta(days=9))
    AppleUserFactory(token=token, person=people[2], status=AppleUser.Status.ASSOCIATED)
    LicenseFactory(ebook=book, person=people[2], state=License.State.NOT_ENOUGH)
    # f3: licensed, not installed. f4: installed. f5: managed Apple ID, licensed.
    for person in people[3:5]:
        AppleUserFactory(token=token, person=person, status=AppleUser.Status.ASSOCIATED)
        LicenseFactory(ebook=book, person=person, assigned_at=now - timedelta(days=2))
    InstallRequest.objects.create(
        device=DeviceFactory(owner=people[4]), ebook=book, person=people[4], state="installed"
    )
    people[5].managed_apple_id = "f5@appleid.x.example"
    people[5].save()
    AppleUserFactory(token=token, person=people[5], managed=True)
    LicenseFactory(ebook=book, person=people[5])
    # Someone outside the group holds nothing and is not counted.
    PersonFactory()
    return book, group, people


def test_funnel_counts_narrow_step_by_step(funnel_book, viewer_client):
    from reports.funnel import funnel_read

    book, group, _ = funnel_book
    steps = {s.key: (s.reached, s.stuck) for s in funnel_read(ebook=book)}
    assert steps == {
        "targeted": (6, 1),
        "registered": (5, 1),
        "accepted": (4, 1),
        "licensed": (3, 2),
        "installed": (1, 0),
    }
    assert {s.key: s.reached for s in funnel_read(ebook=book, group=group)} == {
        k: v[0] for k, v in steps.items()
    }


def test_funnel_page_lists_who_is_stuck_and_since_when(funnel_book, viewer_client):
    book, group, people = funnel_book
    url = reverse("reports:funnel")
    html = viewer_client.get(url, {"ebook": book.pk, "step": "registered"}).content.decode()
    stuck = html[html.index("Stuck at") :]
    assert people[1].email in stuck and people[0].email not in stuck
    invited = people[1].apple_users.get().invitation_sent_at
    assert f"{invited:%-d %b %Y}" in stuck  # since when: the invitation went out
    licensed = viewer_client.get(url, {"ebook": book.pk, "step": "licensed"}).content.decode()
    stuck = licensed[licensed.index("Stuck at") :]
    assert "f3@x.example" in stuck and "f5@x.example" in stuck and "f4@x.example" not in stuck
    rows = _csv(viewer_client.get(url, {"ebook": book.pk, "group": group.pk, "format": "csv"}))
    assert {(r["step"], r["email"]) for r in rows} == {
        ("Targeted", "f0@x.example"),
        ("Registered", "f1@x.example"),
        ("Accepted", "f2@x.example"),
        ("Licensed", "f3@x.example"),
        ("Licensed", "f5@x.example"),
    }


@pytest.fixture
def crowd_invited():
    """Seven people invited and not joined: times tied, missing, in no email order."""
    book = EBookFactory(title="Crowd Book")
    emails = ["g@x.example", "b@x.example", "e@x.example", "a@x.example", "f@x.example"]
    emails += ["c@x.example", "d@x.example"]
    people = [PersonFactory(email=email) for email in emails]
    GroupAssignmentFactory(ebook=book, group=UserGroupFactory(members=people))
    day = timezone.now() - timedelta(days=30)
    sent = [day, day, None, day + timedelta(days=1), None, day - timedelta(days=1), day]
    for person, when in zip(people, sent, strict=True):
        AppleUserFactory(token=book.token, person=person, invitation_sent_at=when)
    # Longest stuck first, ties by email, those with no time last.
    by_since = ["c@x.example", "b@x.example", "d@x.example", "g@x.example", "a@x.example"]
    return book, [*by_since, "e@x.example", "f@x.example"]


def _walk_stuck(client, book, *, step: str) -> list[str]:
    """Every email the stuck list shows, following its next-page links."""
    import re

    url, seen = f"{reverse('reports:funnel')}?ebook={book.pk}&step={step}", []
    for _ in range(20):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        stuck = html[html.index("Stuck at") :]
        rows = stuck[stuck.index("<tbody>") : stuck.index("</tbody>")]
        seen += re.findall(r"[a-z]@x\.example", rows)
        link = re.search(r'<a rel="next" href="([^"]+)"', stuck)
        if not link:
            return seen
        url = reverse("reports:funnel") + __import__("html").unescape(link.group(1))
    raise AssertionError("the pages never end")


@pytest.mark.parametrize("pages_of", [2, 3, 100])
def test_stuck_list_pages_by_keyset_longest_stuck_first(
    crowd_invited, viewer_client, monkeypatch, pages_of
):
    book, expected = crowd_invited
    monkeypatch.setattr("reports.funnel.STUCK_SHOWN", pages_of)
    assert _walk_stuck(viewer_client, book, step="registered") == expected


def test_a_crowd_too_big_to_sort_by_time_pages_by_email(crowd_invited, viewer_client, monkeypatch):
    book, expected = crowd_invited
    monkeypatch.setattr("reports.funnel.STUCK_SHOWN", 3)
    monkeypatch.setattr("reports.funnel.SORT_BY_SINCE_UP_TO", 5)
    assert _walk_stuck(viewer_client, book, step="registered") == sorted(expected)


def test_a_bad_page_of_the_stuck_list_gets_a_clear_answer(crowd_invited, viewer_client):
    book, _ = crowd_invited
    url = reverse("reports:funnel")
    for after in ("no-separator", "not-a-date|a@x.example"):
        response = viewer_client.get(url, {"ebook": book.pk, "step": "registered", "after": after})
        assert response.status_code == 400
        assert b"not valid" in response.content


def test_funnel_with_a_bad_id_gets_a_clear_answer(viewer_client):
    response = viewer_client.get(reverse("reports:funnel"), {"ebook": "abc"})
    assert response.status_code == 400
    assert viewer_client.get(reverse("reports:funnel"), {"ebook": 999999}).status_code == 404


def test_group_funnel_shows_each_assigned_book(funnel_book, viewer_client):
    book, group, _ = funnel_book
    html = viewer_client.get(reverse("reports:funnel"), {"group": group.pk}).content.decode()
    row = html[html.index(f'data-book="{book.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Funnel Book" in row
    assert [int(n) for n in __import__("re").findall(r"<td>(\d+)</td>", row)] == [6, 5, 4, 3, 1]


def test_group_page_links_to_its_funnel(funnel_book, viewer_client):
    _, group, _ = funnel_book
    html = viewer_client.get(reverse("admin:assignments_usergroup_change", args=[group.pk]))
    assert f"/admin/reports/funnel/?group={group.pk}" in html.content.decode()


def test_leavers_page_shows_the_first_titles_and_the_export_all_of_them(viewer_client):
    leaver = PersonFactory(email="many@x.example", active=False)
    for i in range(12):
        LicenseFactory(person=leaver, ebook=EBookFactory(title=f"Title {i:02d}"))
    html = viewer_client.get(reverse("reports:leavers")).content.decode()
    assert "Title 09" in html and "Title 10" not in html
    assert "12 in all" in html
    rows = _csv(viewer_client.get(reverse("reports:leavers"), {"format": "csv"}))
    assert rows[0]["books"].count("Title") == 12


def test_group_funnel_counts_exclusions_exactly_and_stays_within_a_query_budget(
    funnel_book, viewer_client, django_assert_max_num_queries
):
    book, group, people = funnel_book
    other = EBookFactory(token=book.token, title="Other Book")
    excluded = UserGroupFactory(name="Left out", members=people[:2])
    assignment = GroupAssignmentFactory(ebook=other, group=group)
    assignment.excluded_groups.add(excluded)
    for i in range(10):
        GroupAssignmentFactory(
            ebook=EBookFactory(token=book.token, title=f"Extra {i}"), group=group
        )
    with django_assert_max_num_queries(30):
        html = viewer_client.get(reverse("reports:funnel"), {"group": group.pk}).content.decode()
    row = html[html.index(f'data-book="{other.pk}"') :]
    row = row[: row.index("</tr>")]
    # Four members left once the excluded two are out; f2..f5 all registered and joined.
    assert [int(n) for n in __import__("re").findall(r"<td>(\d+)</td>", row)] == [4, 4, 4, 0, 0]


def _steps_on_their_own(book, people) -> list[int]:
    """The group page's counts, person by person: each step counted on its own."""
    active = [p for p in people if p.active]
    invited = {
        u.person_id: u
        for u in AppleUser.objects.filter(
            token=book.token, status__in=("registered", "associated"), person__in=active
        )
    }
    held = set(
        License.objects.filter(ebook=book, state__in=("assigned", "pending")).values_list(
            "person_id", flat=True
        )
    )
    installed = set(
        InstallRequest.objects.filter(ebook=book, state="installed").values_list(
            "person_id", flat=True
        )
    )
    return [
        len(active),
        len(invited),
        sum(
            1
            for p in active
            if p.pk in invited and (invited[p.pk].status == "associated" or p.managed_apple_id)
        ),
        sum(1 for p in active if p.pk in held),
        sum(1 for p in active if p.pk in installed),
    ]


def test_group_funnel_takes_off_exactly_the_members_each_assignment_excludes(
    funnel_book, viewer_client
):
    import re

    book, group, people = funnel_book
    # f2 (joined, waiting), f3 (licensed) and f4 (installed) are left out of the same book;
    # f3 sits in both excluded groups (counted off once); a leaver and an outsider too.
    leaver = PersonFactory(email="gone@x.example", active=False)
    group.memberships.create(person=leaver)
    outsider = PersonFactory(email="out@x.example")
    first = UserGroupFactory(name="Left out 1", members=[people[2], people[3], leaver, outsider])
    second = UserGroupFactory(name="Left out 2", members=[people[3], people[4]])
    assignment = GroupAssignment.objects.get(ebook=book, group=group)
    assignment.excluded_groups.add(first, second)
    # A second book with its own exclusion: the counts of one never leak into the other.
    # (The license makes f0 a registered Apple user of the token.)
    other = EBookFactory(token=book.token, title="Other Book")
    LicenseFactory(ebook=other, person=people[0])
    GroupAssignmentFactory(ebook=other, group=group).excluded_groups.add(
        UserGroupFactory(name="Left out 3", members=[people[1]])
    )
    html = viewer_client.get(reverse("reports:funnel"), {"group": group.pk}).content.decode()

    def row(ebook) -> list[int]:
        found = html[html.index(f'data-book="{ebook.pk}"') :]
        return [int(n) for n in re.findall(r"<td>(\d+)</td>", found[: found.index("</tr>")])]

    kept = [p for p in people if p not in (people[2], people[3], people[4])]
    assert row(book) == _steps_on_their_own(book, kept) == [3, 3, 1, 1, 0]
    others = [p for p in people if p != people[1]]
    assert row(other) == _steps_on_their_own(other, others) == [5, 5, 4, 1, 0]
