"""Shared set-up for the benchmarks: a throwaway database, Django, a simulator process."""

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
VAR = REPO / "var" / "bench"
SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def scaled(full_size: int, minimum: int = 10) -> int:
    """A size shrunk by BENCH_SCALE, never below minimum."""
    return max(minimum, int(full_size * SCALE))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def bench_database(suffix: str, *, reuse: bool = False) -> tuple[str, str | None]:
    """A fresh database on DATABASE_URL's server (`<name>_<suffix>`), or a fresh SQLite file.

    reuse keeps one a previous run left (BENCH_KEEP_DB=1) instead of starting afresh.
    """
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        name = f"{parts.path.lstrip('/') or 'shelfkeeper'}_{suffix}"
        with psycopg.connect(_admin_url(url), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not (reuse and exists):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
        return urlunsplit(parts._replace(path=f"/{name}")), name
    VAR.mkdir(parents=True, exist_ok=True)
    database = VAR / f"{suffix}.sqlite3"
    if not reuse:
        database.unlink(missing_ok=True)
    return f"sqlite:///{database}", None


def drop_database(name: str | None) -> None:
    """Remove the PostgreSQL database bench_database made (SQLite files stay for inspection)."""
    if not name or os.environ.get("BENCH_KEEP_DB"):  # BENCH_KEEP_DB=1 keeps it for EXPLAIN
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(_admin_url(os.environ["DATABASE_URL"]), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def django_setup(database_url: str) -> None:
    """Configure Django for a benchmark run (production settings, no .env) and migrate."""
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
            "EMAIL_URL": "dummymail://",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def simulator_start(*args: str) -> tuple[subprocess.Popen, str]:
    """The simulator in its own process (as Apple is), ready to answer."""
    import requests

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "apple.simulator", "--port", str(port), "--event-delay", "0", *args],
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
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the simulator did not start")


def simulator_stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def _proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (Linux), or None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds of this process, of a helper process (the simulator) and of the database.

    PostgreSQL: the backends serving our database, found in pg_stat_activity and read from
    /proc every 0.1 s (a backend that closes loses at most its last tenth of a second). SQLite
    runs inside this process, so its share is in the Python figure.
    """

    def __init__(self, *, database: str | None, helper_pid: int | None = None) -> None:
        self.database = database
        self.helper_pid = helper_pid
        self._backends: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last seen)
        self._stop = None
        self._thread = None

    def _sample(self, conn, *, baseline: bool = False) -> None:
        own = conn.info.backend_pid
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
            [self.database, own],
        ).fetchall()
        for (pid,) in pids:
            cpu = _proc_cpu_seconds(pid)
            if cpu is not None:
                # A backend open before we started counts from then; a new one from zero.
                first = self._backends.get(pid, (cpu if baseline else 0.0, 0.0))[0]
                self._backends[pid] = (first, cpu)

    def _poll(self, conn) -> None:
        with conn:
            while not self._stop.wait(0.1):
                self._sample(conn)
            self._sample(conn)

    def __enter__(self) -> CpuMeter:
        import threading

        self._python0 = time.process_time()
        self._helper0 = _proc_cpu_seconds(self.helper_pid) if self.helper_pid else None
        self._backends.clear()
        if self.database:
            import psycopg

            conn = psycopg.connect(_admin_url(os.environ["DATABASE_URL"]), autocommit=True)
            self._sample(conn, baseline=True)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._poll, args=(conn,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.python_s = time.process_time() - self._python0
        helper1 = _proc_cpu_seconds(self.helper_pid) if self.helper_pid else None
        self.helper_s = (helper1 - self._helper0) if helper1 and self._helper0 else 0.0
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self.database_s = sum(last - first for first, last in self._backends.values())

    def summary(self) -> str:
        database = f"db {self.database_s:.1f}" if self.database else "db in-process"
        return f"CPU s: python {self.python_s:.1f}, {database}, simulator {self.helper_s:.1f}"
