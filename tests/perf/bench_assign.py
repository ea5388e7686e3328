"""Benchmark: one book assigned to a 100,000-member group (`make bench-assign`; BENCH_SCALE).

Measures the reconcile that follows against the simulator (its own process): Apple write requests
made against the minimum the service-config limits allow, all requests, wall time and peak RSS.
The members have managed Apple IDs, so Apple registers them without invitations. The last line
is machine-readable.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    SCALE,
    bench_database,
    django_setup,
    drop_database,
    peak_rss_mb,
    scaled,
    simulator_start,
    simulator_stop,
)


def main() -> None:
    import requests

    members = scaled(100_000)
    database_url, pg_name = bench_database("bench_assign")
    django_setup(database_url)
    from django.db import connection
    from django.test.utils import override_settings

    from assignments.models import GroupAssignment, Membership, Person, UserGroup
    from assignments.services import group_assignment_create
    from ebooks.models import EBook
    from sync.models import SyncRun
    from sync.reconcile import reconcile_token
    from sync.services import sync_request, sync_run_execute
    from tokens.clients import client_for_token
    from tokens.services import token_import

    print(f"bench_assign on {connection.vendor}, scale {SCALE}: {members} members", flush=True)
    simulator, url = simulator_start("--generate", "books=5,users=0,assignments=0,seed=3")
    try:
        content = requests.post(
            f"{url}/_sim/tokens", json={"org": "Bench District", "location": "All Schools"}
        ).json()["token"]
        with override_settings(
            VPP_SERVICE_URL=f"{url}/mdm/v2", VPP_STORE_LOOKUP_URL=f"{url}/lookup"
        ):
            token = token_import(
                file_bytes=content.encode(), apple_id="bench@example.org", account_type="education"
            )
            run = sync_request(token=token, trigger=SyncRun.Trigger.COMMAND, enqueue=False).run
            sync_run_execute(run_id=run.pk)
            book = EBook.objects.filter(token=token, unlimited=False).order_by("pk").first()
            requests.post(
                f"{url}/_sim/license-count",
                json={
                    "token": content,
                    "adamId": book.adam_id,
                    "pricingParam": book.pricing_param,
                    "delta": members + 1000,
                },
            ).raise_for_status()

            t0 = time.perf_counter()
            Person.objects.bulk_create(
                [
                    Person(
                        email=f"pupil{i:06d}@district.example",
                        display_name=f"Pupil {i}",
                        managed_apple_id=f"pupil{i:06d}@appleid.district.example",
                    )
                    for i in range(members)
                ],
                batch_size=5000,
            )
            group = UserGroup.objects.create(name="Everyone")
            Membership.objects.bulk_create(
                [
                    Membership(group=group, person_id=pk)
                    for pk in Person.objects.values_list("pk", flat=True)
                ],
                batch_size=5000,
            )
            print(
                f"directory of {members} people made in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            group_assignment_create(
                ebook=book,
                groups=[group],
                intent=GroupAssignment.Intent.AVAILABLE,
                confirmed_irrevocable=True,
            )
            token.refresh_from_db()
            limits = client_for_token(token).service_config().limits
            t0 = time.perf_counter()
            result = reconcile_token(token=token)
            wall = time.perf_counter() - t0
    finally:
        simulator_stop(simulator)
        drop_database(pg_name)
    if result.error or result.skipped:
        raise SystemExit(f"reconcile did not finish: {result.error or result.skipped}")
    minimum = math.ceil(members / limits.max_users) + math.ceil(
        members / limits.max_client_user_ids
    )
    print(
        f"reconcile: {wall:.2f} s, {result.users_registered} users registered, "
        f"{result.licenses_assigned} licenses assigned, {result.write_requests} write requests "
        f"(minimum {minimum} at maxUsers={limits.max_users}, "
        f"maxClientUserIds={limits.max_client_user_ids}), {result.apple_requests} requests in all "
        f"(reads: counts, user listings, event status), peak RSS {peak_rss_mb():.0f} MB"
    )
    print(
        f"bench_assign members={members} requests={result.write_requests} min_requests={minimum} "
        f"wall_s={wall:.2f} rss_mb={peak_rss_mb():.0f}"
    )


if __name__ == "__main__":
    main()
