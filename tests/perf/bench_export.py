"""Benchmark: the license list's CSV export over 1,000,000 licenses (BENCH_SCALE shrinks it).

Builds the licenses with bulk writes, then downloads the export through the admin as a viewer
would: time to the first bytes, rows per second and resident memory before and after (a streamed
export keeps it flat). The last line is machine-readable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import SCALE, bench_database, django_setup, drop_database, peak_rss_mb, scaled

BATCH = 10_000


def rss_mb() -> float:
    """Resident memory right now (peak_rss_mb is the high-water mark)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build(licenses: int) -> None:
    """Tokens, books, people, Apple users and licenses, bulk written in batches."""
    from django.db import connection
    from django.utils import timezone

    from assignments.models import AppleUser, License, Person
    from ebooks.models import EBook
    from tokens.models import VppToken

    books_n = 200
    people_n = max(1, -(-licenses // books_n))
    now = timezone.now()
    token = VppToken.objects.create(
        name="Bench",
        apple_id="b@example.org",
        account_type="education",
        org_name="Bench",
        location_uid="bench",
        expires_at=now.replace(year=now.year + 1),
        secret_ciphertext="x",
        fingerprint="f" * 64,
    )
    EBook.objects.bulk_create(
        EBook(
            token=token,
            adam_id=str(10_000 + i),
            pricing_param="STDQ",
            title=f"Book {i}",
            total_count=people_n + 10,
            assigned_count=people_n,
            available_count=10,
        )
        for i in range(books_n)
    )
    for start in range(0, people_n, BATCH):
        Person.objects.bulk_create(
            Person(email=f"p{i:07d}@district.example", display_name=f"=Pupil {i}")
            for i in range(start, min(people_n, start + BATCH))
        )
    people = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, people_n, BATCH):
        AppleUser.objects.bulk_create(
            AppleUser(token=token, person_id=pk, client_user_id=f"bench-{pk}", status="associated")
            for pk in people[start : start + BATCH]
        )
    # The licenses in one INSERT … SELECT: every (book, Apple user) pair, as many as asked.
    columns = "token_id, ebook_id, apple_user_id, person_id, state, error_message, event_id, kept"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {License._meta.db_table} ({columns}, assigned_at, updated_at) "
            "SELECT b.token_id, b.id, u.id, u.person_id, 'assigned', '', '', %s, %s, %s "
            f"FROM {EBook._meta.db_table} b CROSS JOIN {AppleUser._meta.db_table} u "
            "ORDER BY b.id, u.id LIMIT %s",
            [False, now, now, licenses],
        )


def main() -> None:
    licenses = scaled(1_000_000)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    database_url, pg_name = bench_database("bench_export")
    django_setup(database_url)
    try:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from config.roles import LICENSE_VIEWERS

        print(
            f"bench_export on {connection.vendor}, scale {SCALE}: {licenses} licenses", flush=True
        )
        t0 = time.perf_counter()
        build(licenses)
        print(f"built in {time.perf_counter() - t0:.1f} s", flush=True)
        viewer = get_user_model().objects.create_user("viewer", is_staff=True)
        viewer.groups.add(Group.objects.get(name=LICENSE_VIEWERS))
        client = Client()
        client.force_login(viewer)
        url = reverse("reports:changelist_export", args=["assignments", "license"])

        rss_before = rss_mb()
        t0 = time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        # First bytes: the first piece holding a data row (the header alone leaves at once).
        rows = size = 0
        first_s = None
        for piece in response.streaming_content:
            rows += piece.count(b"\n")
            size += len(piece)
            if first_s is None and rows > 1:
                first_s = time.perf_counter() - t0
        rows -= 1  # the header line
        elapsed = time.perf_counter() - t0
        response.close()
        rss_after = rss_mb()
        assert rows == licenses, (rows, licenses)
        print(
            f"export: {rows} rows, {size / 1e6:.1f} MB in {elapsed:.2f} s; first bytes after "
            f"{first_s * 1000:.0f} ms; RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after",
            flush=True,
        )
        print(
            f"bench_export rows={rows} rows_per_s={rows / elapsed:.0f} "
            f"first_ms={first_s * 1000:.0f} peak_rss_mb={peak_rss_mb():.0f} "
            f"rss_before_mb={rss_before:.0f} rss_mb={rss_after:.0f}"
        )
    finally:
        if not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1 leaves the database to explore
            drop_database(pg_name)


if __name__ == "__main__":
    main()
