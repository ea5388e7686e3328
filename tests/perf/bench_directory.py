"""Directory at district scale: stream a people CSV of a million rows (at BENCH_SCALE=1), a group
of a tenth of them, then preview an assignment; prints the time, rows/s and peak memory.

    .venv/bin/python tests/perf/bench_directory.py        # BENCH_SCALE=0.05 for a quick look

Runs against a throwaway database (SQLite under a temporary VAR_DIR, or DATABASE_URL if set).
The CSV is written to a temporary file and read back as the command reads it (a stream), so the
peak resident memory shows whether the import holds the file: it must not grow with the rows.
Last line: `bench_directory people=<n> import_s=<t> rows_per_s=<r> reimport_s=<t>
members=<m> groups_s=<t> preview_s=<t> rss_before_mb=<m> peak_rss_mb=<m>`.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _people_csv(path: Path, people: int, *, renamed: bool = False) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,display_name,external_id,managed_apple_id,active\n")
        for n in range(people):
            name = f"Person {'one' if renamed and n == 1 else n}"
            managed = f"m{n}@appleid.example" if n % 3 else ""
            out.write(f"p{n}@district.example,{name},E{n},{managed},true\n")


def main() -> None:
    from assignments.directory_import import directory_import, groups_import
    from assignments.models import UserGroup
    from assignments.selectors import assignment_preview
    from ebooks.models import EBook
    from tests.factories import EBookFactory

    call_command("migrate", interactive=False, verbosity=0)
    people = int(1_000_000 * SCALE)
    members = int(100_000 * SCALE)
    folder = Path(tempfile.mkdtemp(prefix="bench-directory-"))
    csv_path = folder / "people.csv"
    _people_csv(csv_path, people)
    rss_before = _peak_rss_mb()

    started = time.perf_counter()
    with csv_path.open("rb") as stream:
        outcome = directory_import(people=stream)
    import_s = time.perf_counter() - started
    result = outcome.files[0]
    assert outcome.ok and result.created == people, result.errors[:3]
    peak = _peak_rss_mb()

    _people_csv(csv_path, people, renamed=True)
    started = time.perf_counter()
    with csv_path.open("rb") as stream:
        again = directory_import(people=stream)
    reimport_s = time.perf_counter() - started
    assert again.ok and again.files[0].updated == 1, again.files[0].summary()
    peak = max(peak, _peak_rss_mb())

    group_rows = "".join(f"Big group,p{n}@district.example\n" for n in range(members))
    started = time.perf_counter()
    result = groups_import(data=("group_name,member_email\n" + group_rows).encode())
    groups_s = time.perf_counter() - started
    assert result.ok, result.errors[:3]

    ebook: EBook = EBookFactory(available_count=50_000, total_count=60_000)
    group = UserGroup.objects.get(name="Big group")
    assignment_preview(ebook=ebook, groups=[group])  # warm the page cache once
    started = time.perf_counter()
    preview = assignment_preview(ebook=ebook, groups=[group])
    preview_s = time.perf_counter() - started
    assert preview.targeted == members
    csv_path.unlink()
    folder.rmdir()
    print(f"groups import of {members} memberships: {groups_s:.2f}s")
    print(
        f"bench_directory people={people} import_s={import_s:.2f} "
        f"rows_per_s={people / import_s:.0f} reimport_s={reimport_s:.2f} members={members} "
        f"groups_s={groups_s:.2f} preview_s={preview_s:.3f} rss_before_mb={rss_before:.0f} "
        f"peak_rss_mb={peak:.0f}"
    )


if __name__ == "__main__":
    main()
