"""Benchmark: build a 1,000,000-assignment simulator state, serve every page, save and reload.

Run: .venv/bin/python tests/perf/bench_simulator_generate.py [SPEC]
Prints seconds and peak RSS (resource.getrusage) for each step. Targets: generate < 60 s,
RSS < 1 GB, < 20 ms per page of 1000 assignments.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import requests

from apple.simulator import Simulator

SPEC = "books=2000,users=300000,assignments=1000000,foreign_users=20000,apps=20"


def rss_mb() -> float:
    """Peak resident set size so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(spec: str = SPEC) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.json.gz"
        t0 = time.perf_counter()
        sim = Simulator(state_path=None, generate=spec, page_size=1000)
        generated = time.perf_counter() - t0
        print(f"generate {spec}: {generated:.2f} s, peak RSS {rss_mb():.0f} MB")

        sim.start(port=0)
        token = sim.issue_token(org="Bench Org", location="Bench Location")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        t0 = time.perf_counter()
        first = session.get(f"{sim.api_url}/assignments", params={"pageIndex": 0}).json()
        print(
            f"first request (seeds the location): {time.perf_counter() - t0:.2f} s, "
            f"{first['totalPages']} pages, peak RSS {rss_mb():.0f} MB"
        )

        times = []
        rows = 0
        t_all = time.perf_counter()
        for page in range(first["totalPages"]):
            t0 = time.perf_counter()
            body = session.get(f"{sim.api_url}/assignments", params={"pageIndex": page}).json()
            times.append(time.perf_counter() - t0)
            rows += len(body["assignments"])
        total = time.perf_counter() - t_all
        times.sort()
        p95 = times[int(len(times) * 0.95)]
        print(
            f"served {rows} assignments in {len(times)} pages: {total:.2f} s total, "
            f"mean {statistics.mean(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
            f"max {times[-1] * 1000:.1f} ms per page (client parse included)"
        )
        sim.stop()

        sim.state_path = state
        t0 = time.perf_counter()
        sim.save()
        print(
            f"save: {time.perf_counter() - t0:.2f} s, {state.stat().st_size / 1e6:.1f} MB on disk, "
            f"peak RSS {rss_mb():.0f} MB"
        )
        del sim
        t0 = time.perf_counter()
        again = Simulator(state_path=state, catalog={"items": []})
        loaded = time.perf_counter() - t0
        n = sum(len(loc.assignments) for loc in again.state.locations.values())
        print(f"load: {loaded:.2f} s, {n} assignments, peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main(*sys.argv[1:])
