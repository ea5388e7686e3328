"""Benchmark: walk 1,000,000 licenses through GET /api/v1/licenses/ by cursor (BENCH_SCALE).

Builds the licenses with bulk inserts on a throwaway database, then follows `next` page by page
(1,000 rows a page) in-process with an API key, printing rows/s and the resident memory as it
goes. Cursor pages cost the same at the end as at the start and nothing accumulates, so memory
stays flat. The last line is machine-readable.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import SCALE, bench_database, django_setup, drop_database, peak_rss_mb, scaled

PAGE = 1000
WARM_UP_PAGES = 5  # memory growth is measured from here on


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc), falling back to the peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak_rss_mb()
    return pages * resource.getpagesize() / 1024 / 1024


def build(total: int) -> None:
    """Licenses of `books` books for `users` Apple users: books x users = total."""
    from django.db import transaction

    from assignments.models import AppleUser, License, Person
    from ebooks.models import EBook
    from tokens.models import VppToken

    books = max(1, min(2000, total // 500))
    users = -(-total // books)
    token = VppToken.objects.create(
        name="Bench",
        apple_id="bench@example.org",
        account_type="education",
        org_name="Bench District",
        location_uid="bench-location",
        expires_at="2099-01-01T00:00Z",
        secret_ciphertext="-",
        fingerprint="f" * 64,
    )
    EBook.objects.bulk_create(
        [EBook(token=token, adam_id=str(10**9 + n), pricing_param="STDQ") for n in range(books)]
    )
    Person.objects.bulk_create(
        [Person(email=f"p{n}@bench.example") for n in range(users)], batch_size=5000
    )
    people = list(Person.objects.values_list("pk", flat=True))
    AppleUser.objects.bulk_create(
        [
            AppleUser(token=token, person_id=pk, client_user_id=f"bench-{pk}", status="associated")
            for pk in people
        ],
        batch_size=5000,
    )
    apple_users = list(AppleUser.objects.values_list("pk", "person_id"))
    made = 0
    for ebook_id in EBook.objects.values_list("pk", flat=True):
        batch = [
            License(token=token, ebook_id=ebook_id, apple_user_id=au, person_id=p, state="assigned")
            for au, p in apple_users[: total - made]
        ]
        with transaction.atomic():
            License.objects.bulk_create(batch, batch_size=5000)
        made += len(batch)
        if made >= total:
            break


def main() -> None:
    total = scaled(1_000_000, minimum=5000)
    database_url, pg_name = bench_database("bench_api_cursor")
    django_setup(database_url)
    from django.db import connection
    from django.test import Client

    from api.models import ApiKey
    from api.services import api_key_create
    from assignments.models import License

    print(f"bench_api_cursor on {connection.vendor}, scale {SCALE}: {total:,} licenses", flush=True)
    started = time.monotonic()
    build(total)
    print(f"built {License.objects.count():,} licenses in {time.monotonic() - started:.1f}s")
    key = api_key_create(name="bench", scope=ApiKey.Scope.READ_ONLY).raw
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/licenses/?page_size={PAGE}"
    rows, pages = 0, 0
    rss_start = rss_max = current_rss_mb()
    started = time.monotonic()
    try:
        while url:
            response = client.get(url)
            if response.status_code == 429:  # our own rate limit: the walk honours it too
                time.sleep(float(response.get("Retry-After", "1")))
                continue
            if response.status_code != 200:
                raise SystemExit(
                    f"page {pages + 1}: HTTP {response.status_code} {response.content[:200]!r}"
                )
            body = response.json()
            rows += len(body["results"])
            pages += 1
            url = body["next"]
            rss_max = max(rss_max, current_rss_mb())
            if pages == WARM_UP_PAGES:  # imports and caches of the first requests are done
                rss_start = current_rss_mb()
            if pages % 100 == 0:
                elapsed = time.monotonic() - started
                print(
                    f"  {rows:,} rows, {rows / elapsed:,.0f} rows/s, rss {current_rss_mb():.0f} MB"
                )
        elapsed = time.monotonic() - started
        if rows != total:
            raise SystemExit(f"walked {rows:,} rows, expected {total:,}")
        print(
            f"bench_api_cursor rows={rows} rows_per_s={rows / elapsed:.0f} "
            f"rss_mb={rss_max:.0f} rss_growth_mb={rss_max - rss_start:.1f} pages={pages}"
        )
    finally:
        drop_database(pg_name)


if __name__ == "__main__":
    main()
