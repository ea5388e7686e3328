"""Benchmark the sync against the simulator: `make bench-sync` (BENCH_SCALE=0.05 for 5 %).

Seeds a simulator (its own process, like Apple) with books=2000, users=300000 (10,000 of them
another product's) and assignments=1000000, then measures in one run:
  (a) the limit: the client alone reading and parsing every page, no database;
  (b) a full sync;  (c) an incremental sync with no change;  (d) one after 1,000 new assignments.
Uses DATABASE_URL's server (a throwaway `<name>_bench` database) or a fresh SQLite file.
The last line is machine-readable.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
VAR = REPO / "var" / "bench"


def scaled(full_size: int, minimum: int = 10) -> int:
    return max(minimum, int(full_size * SCALE))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_database_url() -> tuple[str, str | None]:
    """A throwaway database on DATABASE_URL's server, or a fresh SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        name = f"{parts.path.lstrip('/') or 'shelfkeeper'}_bench"
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return urlunsplit(parts._replace(path=f"/{name}")), name
    VAR.mkdir(parents=True, exist_ok=True)
    database = VAR / "bench.sqlite3"
    database.unlink(missing_ok=True)
    return f"sqlite:///{database}", None


def configure_django(database_url: str) -> None:
    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENV_FILE": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret",
            "VAR_DIR": str(VAR),
            "DATABASE_URL": database_url,
            "VPP_TOKEN_KEY": Fernet.generate_key().decode(),
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_simulator(spec: str) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apple.simulator",
            "--port",
            str(port),
            "--generate",
            spec,
            "--page-size",
            "1000",
            "--event-delay",
            "0",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/_sim/health", timeout=2).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the simulator did not start")


def report(label: str, seconds: float, rows: int, requests_made: int) -> None:
    rate = rows / seconds if seconds else 0
    print(
        f"{label:<34} {seconds:8.2f} s  {rows:>9} rows  {rate:>9.0f} rows/s  "
        f"{requests_made:>5} Apple requests  peak RSS {peak_rss_mb():.0f} MB",
        flush=True,
    )


def main() -> None:
    import requests

    database_url, pg_name = bench_database_url()
    configure_django(database_url)
    from django.test.utils import override_settings

    from sync import services as sync_services
    from sync.models import SyncRun
    from sync.services import sync_request
    from tokens.clients import client_for_token, client_user_id_prefix
    from tokens.services import token_import

    prefix = client_user_id_prefix()
    spec = (
        f"books={scaled(2000)},users={scaled(300_000)},assignments={scaled(1_000_000)},"
        f"foreign_users={scaled(10_000, 1)},apps=20,prefix={prefix},seed=1"
    )
    vendor = "PostgreSQL" if pg_name else "SQLite"
    print(f"bench_sync on {vendor}, scale {SCALE}: {spec}", flush=True)
    started = time.perf_counter()
    simulator, sim_url = start_simulator(spec)
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

            # (a) the limit: the client alone, every page, no database.
            client = client_for_token(token)
            t0 = time.perf_counter()
            rows = 0
            for paged in (
                client.assets(product_type="Book", parallel=5),
                client.users(active_only=True, parallel=5),
                client.assignments(parallel=5),
            ):
                for page in paged.pages():
                    rows += len(page)
            limit_s = time.perf_counter() - t0
            report("(a) limit: client only", limit_s, rows, client.request_count)

            def timed_sync(label: str, *, full: bool) -> tuple[float, SyncRun]:
                run = sync_request(
                    token=token, trigger=SyncRun.Trigger.COMMAND, full=full, enqueue=False
                ).run
                t0 = time.perf_counter()
                run = sync_services.sync_run_execute(run_id=run.pk)
                seconds = time.perf_counter() - t0
                if run.state != SyncRun.State.SUCCEEDED:
                    raise SystemExit(f"{label} failed: {run.error_message}")
                rows = run.books_added + run.books_updated + run.users_seen + run.licenses_seen
                report(label, seconds, rows, run.apple_requests)
                return seconds, run

            full_s, _ = timed_sync("(b) full sync", full=True)
            nochange_s, nochange = timed_sync("(c) incremental, no change", full=False)
            requests.post(
                f"{sim_url}/_sim/assignments",
                json={"token": content, "count": 1000, "prefix": prefix},
            ).raise_for_status()
            delta_s, _ = timed_sync("(d) incremental, 1,000 new", full=False)
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        if pg_name:
            import psycopg

            parts = urlsplit(os.environ["DATABASE_URL"])
            with psycopg.connect(
                urlunsplit(parts._replace(path="/postgres")), autocommit=True
            ) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
    ratio = full_s / limit_s
    print(f"ratio full/limit = {ratio:.2f}  (target <= 1.5)")
    print(
        f"bench_sync ratio={ratio:.2f} full_s={full_s:.2f} limit_s={limit_s:.2f} "
        f"rss_mb={peak_rss_mb():.0f} nochange_s={nochange_s:.2f} "
        f"nochange_requests={nochange.apple_requests} delta_s={delta_s:.2f}"
    )


if __name__ == "__main__":
    main()
