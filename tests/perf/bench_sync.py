"""Benchmark the sync against the simulator: `make bench-sync` (BENCH_SCALE=0.05 for 5 %).

Seeds a simulator (its own process, like Apple) with books=2000, users=300000 (10,000 of them
another product's) and assignments=1000000, then measures in one run:
  (a) the limit: the client alone reading and parsing every page, no database;
  (a2) the same read as JSON objects, the leaner read the sync itself does;
  (b) a full sync;  (c) an incremental sync with no change;  (d) one after 1,000 new assignments.
Uses DATABASE_URL's server (a throwaway `<name>_bench` database) or a fresh SQLite file.
The last line is machine-readable.
"""

from __future__ import annotations

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


def report(label: str, seconds: float, rows: int, requests_made: int, cpu: CpuMeter) -> None:
    rate = rows / seconds if seconds else 0
    print(
        f"{label:<30} {seconds:7.2f} s  {rows:>8} rows  {rate:>7.0f} rows/s  "
        f"{requests_made:>4} Apple requests  peak RSS {peak_rss_mb():.0f} MB  {cpu.summary()}",
        flush=True,
    )


class HookTimer:
    """Time spent in the reports app's after-sync hook (snapshots, stock alerts), which runs
    inside sync_run_execute today: reported apart so the sync's own figures stay visible."""

    def __init__(self) -> None:
        self.seconds = self.cpu_s = 0.0

    def install(self) -> None:
        try:
            from reports import services as reports_services
        except ImportError:
            return
        real = getattr(reports_services, "after_sync_record", None)
        if real is None:
            return

        def timed(**kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return real(**kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.cpu_s += time.process_time() - c0

        reports_services.after_sync_record = timed

    def take(self) -> tuple[float, float]:
        taken, self.seconds, self.cpu_s = (self.seconds, self.cpu_s), 0.0, 0.0
        return taken


def read_all(client, simulator, pg_name, *, as_json: bool):
    """Every page of the three listings the sync reads: (seconds, rows, per listing, cpu)."""
    started = time.perf_counter()
    rows = 0
    listing_s = {}
    with CpuMeter(database=pg_name, helper_pid=simulator.pid) as cpu:
        listings = {
            "books": client.assets(product_type="Book", parallel=5),
            "users": client.users(active_only=True, parallel=5, as_json=as_json),
            "assignments": client.assignments(parallel=5, as_json=as_json),
        }
        for name, paged in listings.items():
            listing_started = time.perf_counter()
            for page in paged.pages():
                rows += len(page)
            listing_s[name] = time.perf_counter() - listing_started
    return time.perf_counter() - started, rows, listing_s, cpu


def main() -> None:
    import requests

    database_url, pg_name = bench_database("bench_sync")
    django_setup(database_url)
    from django.test.utils import override_settings

    import sync.tasks
    from sync import services as sync_services
    from sync.models import SyncRun
    from sync.services import sync_request
    from tokens.clients import client_for_token, client_user_id_prefix
    from tokens.services import token_import

    sync.tasks.reconcile_token.delay = lambda token_id: None  # no assignments here; no queue
    hooks = HookTimer()
    hooks.install()
    prefix = client_user_id_prefix()
    spec = (
        f"books={scaled(2000)},users={scaled(300_000)},assignments={scaled(1_000_000)},"
        f"foreign_users={scaled(10_000, 1)},apps=20,prefix={prefix},seed=1"
    )
    vendor = "PostgreSQL" if pg_name else "SQLite"
    print(f"bench_sync on {vendor}, scale {SCALE}: {spec}", flush=True)
    started = time.perf_counter()
    simulator, sim_url = simulator_start("--generate", spec, "--page-size", "1000")
    print(f"simulator ready in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        content = requests.post(
            f"{sim_url}/_sim/tokens", json={"org": "Bench District", "location": "All Schools"}
        ).json()["token"]
        with override_settings(
            VPP_SERVICE_URL=f"{sim_url}/mdm/v2", VPP_STORE_LOOKUP_URL=f"{sim_url}/lookup"
        ):
            token = token_import(
                file_bytes=content.encode(), apple_id="bench@example.org", account_type="education"
            )

            # (a) the limit: the client alone, every page, no database. The sync reads users
            # and assignments as JSON objects (as_json), so (a2) times that leaner read too:
            # the ratio against it says what the sync costs beyond the very same reading.
            # Untimed first: the simulator builds each listing's row index on its first read,
            # a cost Apple's service does not show and the sync below would not pay.
            read_all(client_for_token(token), simulator, pg_name, as_json=True)
            client = client_for_token(token)
            limit_s, rows, listing_s, cpu = read_all(client, simulator, pg_name, as_json=False)
            report("(a) limit: client only", limit_s, rows, client.request_count, cpu)
            # Beside the sync's "phase … took" log lines: which phase is far from its listing.
            print(
                f"{'':<4}of which " + ", ".join(f"{n} {s:.2f} s" for n, s in listing_s.items()),
                flush=True,
            )
            client = client_for_token(token)
            json_s, rows, listing_s, cpu = read_all(client, simulator, pg_name, as_json=True)
            report("(a2) client only, as JSON", json_s, rows, client.request_count, cpu)

            def timed_sync(label: str, *, full: bool) -> tuple[float, SyncRun, CpuMeter]:
                run = sync_request(
                    token=token, trigger=SyncRun.Trigger.COMMAND, full=full, enqueue=False
                ).run
                t0 = time.perf_counter()
                with CpuMeter(database=pg_name, helper_pid=simulator.pid) as cpu:
                    run = sync_services.sync_run_execute(run_id=run.pk)
                seconds = time.perf_counter() - t0
                if run.state != SyncRun.State.SUCCEEDED:
                    raise SystemExit(f"{label} failed: {run.error_message}")
                rows = run.books_added + run.books_updated + run.users_seen + run.licenses_seen
                report(label, seconds, rows, run.apple_requests, cpu)
                hook_s, hook_cpu = hooks.take()
                own = seconds - hook_s
                print(
                    f"{'':<4}of which the after-sync hook {hook_s:.2f} s (python CPU "
                    f"{hook_cpu:.1f} s); the sync's own time {own:.2f} s",
                    flush=True,
                )
                return seconds, own, hook_cpu, run, cpu

            full_s, full_own_s, full_hook_cpu, _, full_cpu = timed_sync("(b) full sync", full=True)
            nochange_s, nochange_own_s, _, nochange, _ = timed_sync(
                "(c) incremental, no change", full=False
            )
            requests.post(
                f"{sim_url}/_sim/assignments",
                json={"token": content, "count": 1000, "prefix": prefix},
            ).raise_for_status()
            delta_s, delta_own_s, *_ = timed_sync("(d) incremental, 1,000 new", full=False)
    finally:
        simulator_stop(simulator)
        drop_database(pg_name)
    ratio = full_s / limit_s
    ratio_own = full_own_s / limit_s
    ratio_json = full_s / json_s
    print(
        f"ratio full/limit = {ratio:.2f}, without the after-sync hook {ratio_own:.2f} "
        "(target <= 1.5)"
    )
    print(
        f"bench_sync ratio={ratio:.2f} full_s={full_s:.2f} limit_s={limit_s:.2f} "
        f"ratio_json={ratio_json:.2f} limit_json_s={json_s:.2f} "
        f"rss_mb={peak_rss_mb():.0f} nochange_s={nochange_s:.2f} "
        f"nochange_requests={nochange.apple_requests} delta_s={delta_s:.2f} "
        f"full_cpu_python_s={full_cpu.python_s:.1f} full_cpu_db_s={full_cpu.database_s:.1f} "
        f"full_cpu_simulator_s={full_cpu.helper_s:.1f} "
        f"ratio_own={ratio_own:.2f} "
        f"full_own_s={full_own_s:.2f} nochange_own_s={nochange_own_s:.2f} "
        f"delta_own_s={delta_own_s:.2f} full_cpu_hook_s={full_hook_cpu:.1f}"
    )


if __name__ == "__main__":
    main()
