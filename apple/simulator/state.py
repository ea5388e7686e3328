"""The simulator's whole state (secret, revoked tokens, locations) and its persistence.

Saved as gzip'd JSON of flat arrays (see store.py), written atomically (temp file + rename).
The secret is the first key so `--issue-token --state FILE` can read it without loading
a million assignments.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import tempfile
import zlib
from pathlib import Path
from typing import Any

from apple.simulator.store import Location

FORMAT = 1
_SECRET_RE = re.compile(rb'"secret"\s*:\s*"([^"]+)"')


class StateError(ValueError):
    """The state file cannot be read."""


class State:
    """Everything that survives a restart."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret or secrets.token_hex(32)
        self.revoked: set[str] = set()
        self.locations: dict[str, Location] = {}
        self.metadata: dict[str, dict[str, Any]] = {}

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy; call with the simulator's lock held."""
        return {
            "secret": self.secret,
            "format": FORMAT,
            "revoked": sorted(self.revoked),
            "metadata": dict(self.metadata),
            "locations": [loc.snapshot() for loc in self.locations.values()],
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> State:
        """Inverse of snapshot."""
        if data.get("format", FORMAT) != FORMAT:
            raise StateError(f"unsupported state format {data.get('format')!r}")
        state = cls(secret=data["secret"])
        state.revoked = set(data.get("revoked", []))
        state.metadata = data.get("metadata", {})
        for loc_data in data.get("locations", []):
            loc = Location.from_snapshot(loc_data)
            state.locations[loc.uid] = loc
        return state


def write_snapshot(path: Path, snapshot: dict[str, Any]) -> None:
    """Write gzip'd JSON atomically: a temp file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz,
        ):
            gz.write(json.dumps(snapshot, separators=(",", ":")).encode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_snapshot(path: Path) -> dict[str, Any]:
    """Read a state file written by write_snapshot."""
    try:
        with gzip.open(path, "rb") as gz:
            return json.loads(gz.read())
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise StateError(f"cannot read state file {path}: {exc}") from exc


def read_secret(path: Path) -> str:
    """The secret of a state file, read from its first bytes."""
    try:
        with gzip.open(path, "rb") as gz:
            head = gz.read(4096)
    except (OSError, EOFError, zlib.error) as exc:
        raise StateError(f"cannot read state file {path}: {exc}") from exc
    match = _SECRET_RE.search(head)
    if not match:
        raise StateError(f"state file {path} has no secret")
    return match.group(1).decode()


def secret_for_state_file(path: Path) -> str:
    """Secret of an existing state file, or a new one written to a fresh state file."""
    if path.exists():
        return read_secret(path)
    state = State()
    write_snapshot(path, state.snapshot())
    return state.secret
