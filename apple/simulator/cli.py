"""Command line: run the simulator, issue a token, or accept an invitation.

    python -m apple.simulator [--host 127.0.0.1] [--port 9090] [--catalog FILE] [--state FILE]
        [--faults SPEC] [--generate SPEC] [--page-size N] [--event-delay SECONDS]
    python -m apple.simulator --issue-token PATH --org NAME --location NAME [--state FILE]
        [--expired] [--days N]
    python -m apple.simulator --accept-invitation CODE [--url http://127.0.0.1:9090]

`manage.py vpp_simulator` takes the same options.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from apple.simulator import tokens
from apple.simulator.catalog import CatalogError
from apple.simulator.faults import FaultSpecError
from apple.simulator.generate import GenerateSpecError
from apple.simulator.simulator import Simulator
from apple.simulator.state import StateError, secret_for_state_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options (shared with the Django management command)."""
    run = parser.add_argument_group("serve")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=9090, help="port (default 9090; 0 = any free)")
    run.add_argument("--catalog", help="catalogue JSON (default: the shipped demo catalogue)")
    run.add_argument("--state", help="state file (gzip'd JSON) kept across restarts")
    run.add_argument("--faults", help="fault SPEC, e.g. 429:next=3:retry_after=2,500:p=0.1")
    run.add_argument(
        "--generate",
        help="synthetic catalogue: books=N,users=N,assignments=N[,foreign_users=N][,apps=N]"
        "[,prefix=STR][,seed=N]",
    )
    run.add_argument("--page-size", type=int, default=1000, help="rows per page (default 1000)")
    run.add_argument(
        "--event-delay",
        type=float,
        default=1.0,
        help="seconds a write event stays PENDING (default 1.0)",
    )
    run.add_argument("--verbose", action="store_true", help="log every request")
    tok = parser.add_argument_group("issue a token and exit")
    tok.add_argument("--issue-token", metavar="PATH", help="write a .vpptoken file and exit")
    tok.add_argument("--org", default="Shelfkeeper Demo Org", help="organisation name")
    tok.add_argument("--location", default="Main Library", help="location name")
    tok.add_argument("--expired", action="store_true", help="issue an already expired token")
    tok.add_argument("--days", type=float, default=365, help="validity in days (default 365)")
    inv = parser.add_argument_group("accept an invitation and exit")
    inv.add_argument("--accept-invitation", metavar="CODE", help="accept an invitation code")
    inv.add_argument(
        "--url", default="http://127.0.0.1:9090", help="running simulator (default port 9090)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m apple.simulator`."""
    parser = argparse.ArgumentParser(
        prog="python -m apple.simulator",
        description="Local simulator of Apple's App and Book Management API v2 and store look-up.",
    )
    add_arguments(parser)
    return parser


def issue_token_file(
    path: str | Path,
    *,
    org: str,
    location: str,
    state: str | Path | None = None,
    expired: bool = False,
    days: float = 365,
    now: float | None = None,
) -> str:
    """Write a .vpptoken file a simulator with the same --state (or none) accepts."""
    secret = secret_for_state_file(Path(state)) if state else tokens.DEFAULT_SECRET
    now = time.time() if now is None else now
    expires_at = now - 86400 if expired else now + days * 86400
    content = tokens.issue(secret, org=org, location=location, expires_at=expires_at)
    Path(path).write_text(content, encoding="ascii")
    return content


def accept_invitation_over_http(url: str, code: str) -> dict[str, Any]:
    """Ask a running simulator to accept an invitation."""
    if not url.startswith(("http://", "https://")):
        raise RuntimeError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{url.rstrip('/')}/_sim/accept-invitation",
        data=json.dumps({"inviteCode": code}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise RuntimeError(str(detail)) from exc


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Do what the parsed options ask; return the exit code."""
    if args.issue_token:
        content = issue_token_file(
            args.issue_token,
            org=args.org,
            location=args.location,
            state=args.state,
            expired=args.expired,
            days=args.days,
        )
        outer = tokens.decode_file(content)
        print(
            f"Wrote {args.issue_token}: org {outer['orgName']!r}, location {args.location!r}, "
            f"expires {outer['expDate']}",
            file=out,
        )
        return 0
    if args.accept_invitation:
        try:
            result = accept_invitation_over_http(args.url, args.accept_invitation)
        except (RuntimeError, OSError) as exc:
            print(f"Could not accept invitation: {exc}", file=err)
            return 1
        user = result["user"]
        print(f"Accepted: {user['clientUserId']} is now {user['status']}", file=out)
        return 0
    return serve(args, out, err)


def serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the server until SIGINT/SIGTERM, then save the state."""
    started = time.monotonic()
    try:
        sim = Simulator(
            state_path=args.state,
            catalog=args.catalog,
            generate=args.generate,
            page_size=args.page_size,
            event_delay=args.event_delay,
            faults=args.faults,
            secret=None if args.state else tokens.DEFAULT_SECRET,
            verbose=args.verbose,
        )
        sim.start(port=args.port, host=args.host)
    except (CatalogError, GenerateSpecError, FaultSpecError, StateError, OSError) as exc:
        print(f"Cannot start the simulator: {exc}", file=err)
        return 2
    print(
        f"VPP simulator ready in {time.monotonic() - started:.1f}s on {sim.url}\n"
        f"  VPP_SERVICE_URL={sim.api_url}\n"
        f"  VPP_STORE_LOOKUP_URL={sim.lookup_url}\n"
        f"  state: {args.state or 'in memory only'}\n"
        "  issue a token: python -m apple.simulator --issue-token demo.vpptoken "
        f"--org ORG --location LOC{' --state ' + args.state if args.state else ''}",
        file=out,
        flush=True,
    )
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.stop()
        print(
            "VPP simulator stopped" + (f"; state saved to {args.state}" if args.state else ""),
            file=out,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m apple.simulator`."""
    return run(build_parser().parse_args(argv))
