"""Benchmark the license push (`make bench-assign`; BENCH_SCALE shrinks it).

Two cases against the simulator (its own process, as Apple is): one book assigned to a
100,000-member group, and 50 books assigned to a 5,000-member group. The reconcile runs as the
workers run it (short steps, follow-ups of Apple's events), in this process, and prints Apple
write requests against the minimum the service-config limits allow, wall time, CPU seconds,
the longest time one task held the process, and peak RSS. The members have managed Apple IDs,
so Apple registers them without invitations. The last line is machine-readable.
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
    CpuMeter,
    bench_database,
    django_setup,
    drop_database,
    peak_rss_mb,
    scaled,
    simulator_start,
    simulator_stop,
)


def _people(prefix: str, count: int):
    from assignments.models import Membership, Person, UserGroup

    Person.objects.bulk_create(
        [
            Person(
                email=f"{prefix}{i:06d}@district.example",
                display_name=f"Pupil {i}",
                managed_apple_id=f"{prefix}{i:06d}@appleid.district.example",
            )
            for i in range(count)
        ],
        batch_size=5000,
    )
    group = UserGroup.objects.create(name=f"Everyone {prefix}")
    Membership.objects.bulk_create(
        [
            Membership(group=group, person_id=pk)
            for pk in Person.objects.filter(email__startswith=prefix).values_list("pk", flat=True)
        ],
        batch_size=5000,
    )
    return group


def _case(
    name: str, token, books, members: int, url: str, content: str, *, pg_name, simulator_pid
) -> dict:
    import requests
    from django.db import connection

    from assignments.models import GroupAssignment
    from sync.models import ReconcileRun
    from sync.reconcile.foreground import Foreground
    from sync.reconcile.runs import reconcile_changed_mark, reconcile_request
    from tokens.clients import client_for_token

    for book in books:
        requests.post(
            f"{url}/_sim/license-count",
            json={
                "token": content,
                "adamId": book.adam_id,
                "pricingParam": book.pricing_param,
                "delta": members + 1000,
            },
        ).raise_for_status()
    group = _people(f"{name.replace(' ', '')}-", members)
    GroupAssignment.objects.bulk_create(
        [GroupAssignment(ebook=b, group=group, intent="available") for b in books]
    )
    reconcile_changed_mark(token_ids=[token.pk])  # what the assignment service signals
    limits = client_for_token(token).service_config().limits
    minimum = math.ceil(members / limits.max_users) + math.ceil(
        len(books) / limits.max_assets
    ) * math.ceil(members / limits.max_client_user_ids)
    first = ReconcileRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    foreground = Foreground(driven=True)
    meter = CpuMeter(database=pg_name, helper_pid=simulator_pid)
    cpu0, t0 = time.process_time(), time.perf_counter()
    with meter, foreground.installed():
        reconcile_request(token=token, trigger=ReconcileRun.Trigger.ASSIGNMENT)
        foreground.settle(token)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    runs = ReconcileRun.objects.filter(token=token, pk__gt=first)
    writes = sum(r.write_requests for r in runs)
    assigned = sum(r.licenses_assigned for r in runs)
    errors = [r.error_message for r in runs if r.error_message]
    if errors or assigned != members * len(books):
        raise SystemExit(f"{name}: {assigned} licenses assigned; {errors}")
    longest = max(foreground.task_seconds)
    print(
        f"{name}: {len(books)} book(s) x {members} members on {connection.vendor}: {wall:.2f} s "
        f"wall, {cpu:.1f} CPU s (this process), {writes} write requests (minimum {minimum} at "
        f"maxUsers={limits.max_users}, maxAssets={limits.max_assets}, "
        f"maxClientUserIds={limits.max_client_user_ids}), {len(foreground.task_seconds)} tasks, "
        f"longest {longest:.2f} s, peak RSS {peak_rss_mb():.0f} MB; {meter.summary()}",
        flush=True,
    )
    return {"wall": wall, "cpu": cpu, "requests": writes, "min": minimum, "longest": longest}


def _no_op(token) -> float:
    """A reconcile after nothing changed: it must cost almost nothing, whatever the size."""
    from sync.models import ReconcileRun
    from sync.reconcile.foreground import Foreground
    from sync.reconcile.runs import reconcile_request

    foreground = Foreground(driven=True)
    t0 = time.perf_counter()
    with foreground.installed():
        reconcile_request(token=token, trigger=ReconcileRun.Trigger.SYNC)
        foreground.settle(token)
    return time.perf_counter() - t0


def main() -> None:
    import requests

    big, small, many = scaled(100_000), scaled(5_000), 50
    database_url, pg_name = bench_database("bench_assign")
    django_setup(database_url)
    from django.test.utils import override_settings

    import sync.tasks

    sync.tasks.reconcile_token.delay = lambda *args: None  # the bench drives the reconcile

    from ebooks.models import EBook
    from sync.models import SyncRun
    from sync.services import sync_request, sync_run_execute
    from tokens.services import token_import

    print(f"bench_assign, scale {SCALE}: {big} and {small} members", flush=True)
    simulator, url = simulator_start("--generate", "books=60,users=0,assignments=0,seed=3")
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
            books = list(EBook.objects.filter(token=token, unlimited=False).order_by("pk"))
            where = {"pg_name": pg_name, "simulator_pid": simulator.pid}
            one = _case("one book", token, books[:1], big, url, content, **where)
            fifty = _case("fifty books", token, books[1 : 1 + many], small, url, content, **where)
            idle = _no_op(token)
            print(f"reconcile with nothing to do: {idle:.3f} s", flush=True)
    finally:
        simulator_stop(simulator)
        drop_database(pg_name)
    print(
        f"bench_assign members={big} requests={one['requests']} min_requests={one['min']} "
        f"wall_s={one['wall']:.2f} cpu_s={one['cpu']:.1f} longest_task_s={one['longest']:.2f} "
        f"books50_members={small} books50_requests={fifty['requests']} "
        f"books50_min_requests={fifty['min']} books50_wall_s={fifty['wall']:.2f} "
        f"books50_longest_task_s={fifty['longest']:.2f} noop_s={idle:.3f} "
        f"rss_mb={peak_rss_mb():.0f}"
    )


if __name__ == "__main__":
    main()
