"""Directory at district scale: import N people + a group of them, then preview an assignment.

    .venv/bin/python tests/perf/bench_directory.py        # BENCH_SCALE=0.1 for a tenth

Runs against a throwaway database (SQLite under a temporary VAR_DIR, or DATABASE_URL if set).
Last line: `bench_directory people=<n> import_s=<t> reimport_s=<t> members=<m> preview_s=<t>`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def main() -> None:
    from assignments.directory_import import groups_import, people_import
    from assignments.models import UserGroup
    from assignments.selectors import assignment_preview
    from ebooks.models import EBook
    from tests.factories import EBookFactory

    call_command("migrate", interactive=False, verbosity=0)
    people = int(300_000 * SCALE)
    members = int(100_000 * SCALE)
    rows = "".join(
        f"p{n}@district.example,Person {n},E{n},{f'm{n}@appleid.example' if n % 3 else ''},true\n"
        for n in range(people)
    )
    data = ("email,display_name,external_id,managed_apple_id,active\n" + rows).encode()
    started = time.perf_counter()
    result = people_import(data=data)
    import_s = time.perf_counter() - started
    assert result.ok and result.created == people, result.errors[:3]
    started = time.perf_counter()
    people_import(data=data.replace(b"Person 1,", b"Person one,"))
    reimport_s = time.perf_counter() - started

    group_rows = "".join(f"Big group,,,p{n}@district.example\n" for n in range(members))
    started = time.perf_counter()
    result = groups_import(
        data=("group_name,description,group_external_id,member_email\n" + group_rows).encode()
    )
    groups_s = time.perf_counter() - started
    assert result.ok, result.errors[:3]

    ebook: EBook = EBookFactory(available_count=50_000, total_count=60_000)
    group = UserGroup.objects.get(name="Big group")
    assignment_preview(ebook=ebook, groups=[group])  # warm the page cache once
    started = time.perf_counter()
    preview = assignment_preview(ebook=ebook, groups=[group])
    preview_s = time.perf_counter() - started
    assert preview.targeted == members
    print(f"groups import of {members} memberships: {groups_s:.2f}s")
    print(
        f"bench_directory people={people} import_s={import_s:.2f} reimport_s={reimport_s:.2f} "
        f"members={members} preview_s={preview_s:.3f}"
    )


if __name__ == "__main__":
    main()
