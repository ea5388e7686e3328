"""The `Simulator`: state, configuration, server lifecycle and the Python API used by tests."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apple.simulator import events, tokens
from apple.simulator.api import DEFAULT_LIMITS
from apple.simulator.catalog import load_catalog, metadata_from_catalog, template_from_catalog
from apple.simulator.errors import ApiError
from apple.simulator.faults import FOREIGN_MDM_INFO, FaultRule, FaultSet, parse_spec
from apple.simulator.generate import generate_template
from apple.simulator.lookup import synthetic_metadata
from apple.simulator.notify import Notifier
from apple.simulator.state import State, read_snapshot, write_snapshot
from apple.simulator.store import ASSOCIATED, REGISTERED, Location, id_hash_for

DAY = 86400.0


class Simulator:
    """A local stand-in for Apple's App and Book Management API v2 and the store look-up."""

    def __init__(
        self,
        state_path: str | Path | None = None,
        catalog: str | Path | dict[str, Any] | None = None,
        generate: str | dict[str, Any] | None = None,
        page_size: int = 1000,
        event_delay: float = 0.0,
        *,
        limits: dict[str, int] | None = None,
        faults: str | None = None,
        secret: str | None = None,
        clock: Callable[[], float] = time.time,
        save_debounce: float = 1.0,
        fault_seed: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.verbose = verbose
        self.clock = clock
        self.page_size = page_size
        self.event_delay = event_delay
        self.limits: dict[str, int] = {**DEFAULT_LIMITS, **(limits or {})}
        self.faults = FaultSet(random.Random(fault_seed))  # noqa: S311 - not crypto
        # Requests being answered now: a test that kills a client waits for the ones it left
        # in flight, as Apple would finish them, before it lets minutes pass.
        self.requests_in_flight = 0
        if faults:
            self.set_faults(faults)
        self.save_debounce = save_debounce
        self.state_path = Path(state_path) if state_path else None

        if generate:
            self.template = generate_template(generate)
            metadata: dict[str, dict[str, Any]] = {}
        else:
            data = load_catalog(catalog)
            self.template = template_from_catalog(data)
            metadata = metadata_from_catalog(data)
        if self.state_path and self.state_path.exists():
            self.state = State.from_snapshot(read_snapshot(self.state_path))
        else:
            self.state = State(secret=secret)
        self.state.metadata.update(metadata)

        self.host = "127.0.0.1"
        self.port = 0
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._dirty = threading.Event()
        self._save_lock = threading.Lock()
        self._pending_uids = {u for u, loc in self.state.locations.items() if loc.pending}
        self.notifier = Notifier(self)
        # Licenses asked for per (adamId, pricingParam, clientUserId), counted on Apple's side.
        self.requested_licenses: Counter[tuple[str, str, str]] = Counter()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:9090."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Base URL of the v2 API (what VPP_SERVICE_URL should be)."""
        return f"{self.url}/mdm/v2"

    @property
    def lookup_url(self) -> str:
        """URL of the store look-up (what VPP_STORE_LOOKUP_URL should be)."""
        return f"{self.url}/lookup"

    def start(self, port: int = 0, host: str = "127.0.0.1") -> Simulator:
        """Serve in background threads; port 0 picks a free port."""
        from apple.simulator.server import make_server

        self._stopping.clear()
        self._server = make_server(self, host, port)
        self.host, self.port = self._server.server_address[:2]
        self._spawn(lambda: self._server.serve_forever(poll_interval=0.05), "sim-http")
        self._spawn(self._tick, "sim-events")
        self._spawn(lambda: self.notifier.run(self._stopping), "sim-notify")
        if self.state_path:
            self.save()
            self._spawn(self._save_loop, "sim-save")
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and save the state."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._server = None
        if self.state_path:
            self.save()

    def __enter__(self) -> Simulator:
        return self if self._server else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick(self) -> None:
        """Complete delayed events even when nobody asks for their status."""
        while not self._stopping.wait(0.05):
            if not self._pending_uids:
                continue
            with self.lock:
                for uid in list(self._pending_uids):
                    loc = self.state.locations.get(uid)
                    if loc is not None and events.process_due(loc, self.clock()):
                        self.mark_dirty()
                        self.notify_applied(loc)
                    if loc is None or not loc.pending:
                        self._pending_uids.discard(uid)

    def _save_loop(self) -> None:
        """Debounced saving: at most one write per `save_debounce` seconds while changes come."""
        while not self._stopping.is_set():
            if not self._dirty.wait(0.2):
                continue
            if self._stopping.wait(self.save_debounce):
                return
            self.save()

    def notify_applied(self, loc: Location) -> None:
        """Turn the events applied since last time into notifications (lock held)."""
        applied, loc.applied = loc.applied, []
        for event, done in applied:
            self.notifier.event_applied(loc, event, done)

    def mark_dirty(self) -> None:
        """Note a change to persist."""
        self._dirty.set()

    def note_pending(self, loc: Location) -> None:
        """Remember a location with delayed events for the ticker."""
        self._pending_uids.add(loc.uid)

    def save(self) -> None:
        """Write the state file now (atomically)."""
        if not self.state_path:
            return
        with self._save_lock:
            with self.lock:
                self._dirty.clear()
                snapshot = self.state.snapshot()
            write_snapshot(self.state_path, snapshot)

    # --- tokens and locations -----------------------------------------------------------------

    def issue_token(
        self,
        org: str = "Shelfkeeper Demo Org",
        location: str = "Main Library",
        expires_at: float | None = None,
        *,
        days: float = 365,
        expired: bool = False,
    ) -> str:
        """A `.vpptoken` file content this simulator accepts."""
        if expires_at is None:
            expires_at = self.clock() + (-DAY if expired else days * DAY)
        return tokens.issue(self.state.secret, org=org, location=location, expires_at=expires_at)

    def claims(self, token: str) -> tokens.TokenClaims:
        """Verify a token issued by this simulator (ValueError otherwise)."""
        try:
            return tokens.verify(self.state.secret, token)
        except ApiError as exc:
            raise ValueError("not a token issued by this simulator") from exc

    def location_for(self, claims: tokens.TokenClaims) -> Location:
        """The location of a verified token, seeded from the template on first use."""
        with self.lock:
            loc = self.state.locations.get(claims.uid)
            if loc is None:
                loc = self.template.clone(uid=claims.uid, name=claims.location, org=claims.org)
                self.state.locations[claims.uid] = loc
                self.mark_dirty()
            return loc

    def location(self, token_or_uid: str) -> Location:
        """The location behind a token (or a uId), for assertions."""
        with self.lock:
            if token_or_uid in self.state.locations:
                return self.state.locations[token_or_uid]
            return self.location_for(self.claims(token_or_uid))

    def revoke(self, token: str) -> None:
        """Revoke a token: later requests get 9625."""
        with self.lock:
            self.state.revoked.add(self.claims(token).nonce)
            self.mark_dirty()

    def claim_by_other(self, token: str, mdm_info: dict[str, str] | None = None) -> None:
        """Another product writes its mdmInfo to the token's location."""
        with self.lock:
            self.location(token).mdm_info = dict(mdm_info or FOREIGN_MDM_INFO)
            self.mark_dirty()

    def release_claim(self, token: str) -> None:
        """Clear the location's mdmInfo (nobody has claimed it)."""
        with self.lock:
            self.location(token).mdm_info = None
            self.mark_dirty()

    # --- faults and configuration -------------------------------------------------------------

    def set_faults(self, spec: str | list[FaultRule] | None, *, append: bool = False) -> None:
        """Replace the active faults with a SPEC (see faults.py); None or "" clears."""
        rules = parse_spec(spec) if isinstance(spec, str) else list(spec or [])
        self.faults.set(rules, append=append)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def set_event_delay(self, seconds: float) -> None:
        """How long write events stay PENDING."""
        self.event_delay = float(seconds)

    # --- users, invitations, licenses ---------------------------------------------------------

    def accept_invitation(self, invite_code: str) -> dict[str, Any]:
        """The invited person links an Apple Account: Registered -> Associated."""
        with self.lock:
            for loc in self.state.locations.values():
                row = loc.invite_row(invite_code)
                if row is None:
                    continue
                users = loc.users
                if users.status[row] == REGISTERED:
                    users.id_hash[row] = id_hash_for(f"{users.cuid[row]}|{invite_code}", loc.uid)
                    loc.set_status(row, ASSOCIATED, loc.bump())
                    self.mark_dirty()
                    self.notifier.emit(
                        loc, "USER_ASSOCIATED", {"associatedUsers": [users.as_json(row)]}
                    )
                return {"uId": loc.uid, **users.as_json(row)}
        raise KeyError(invite_code)

    def add_assignments(
        self,
        token_or_uid: str,
        count: int,
        *,
        prefix: str = "shelfkeeper-",
        adam_id: str | None = None,
        pricing_param: str | None = None,
    ) -> int:
        """Add up to `count` book assignments from outside (new users made as needed)."""
        with self.lock:
            loc = self.location(token_or_uid)
            books = [
                i
                for i, a in enumerate(loc.assets)
                if a.product_type == "Book"
                and (adam_id is None or a.adam_id == adam_id)
                and (pricing_param is None or a.pricing_param == pricing_param)
            ]
            version = loc.bump()
            users = [r for c, r in loc.users.active.items() if c.startswith(prefix)]
            added = 0
            serial = 0
            while added < count and any(loc.assets[b].available > 0 for b in books):
                if not users:
                    cuid = f"{prefix}synthetic-{version}-{serial:07d}"
                    serial += 1
                    if cuid in loc.users.active:
                        continue
                    users.append(
                        loc.add_user(
                            cuid, email=None, managed=cuid + "@appleid.example", version=version
                        )
                    )
                row = users.pop()
                for b in books:
                    if added >= count:
                        break
                    if loc.assets[b].available > 0 and not loc.holds(b, user=row):
                        loc.assign(b, user=row, version=version)
                        loc.assets[b].assigned += 1
                        added += 1
            self.mark_dirty()
            return added

    def change_license_count(
        self, token_or_uid: str, adam_id: str, pricing_param: str, delta: int
    ) -> dict:
        """A purchase (+) or transfer away (-) of licenses, as Apple's ASSET_COUNT reports."""
        with self.lock:
            loc = self.location(token_or_uid)
            asset = loc.assets[loc.asset_index[(adam_id, pricing_param)]]
            before = asset.total
            asset.total = max(asset.assigned + asset.retired, asset.total + delta)
            loc.bump()  # Get Assets answers with a new versionId once counts change
            self.mark_dirty()
            if asset.total != before:
                self.notifier.emit(
                    loc,
                    "ASSET_COUNT",
                    {
                        "adamId": adam_id,
                        "pricingParam": pricing_param,
                        "countDelta": asset.total - before,
                    },
                )
            return asset.as_json()

    def transfer_out(self, token_or_uid: str, adam_id: str, pricing_param: str = "STDQ") -> None:
        """Every license of an asset moved to another location: it leaves Get Assets."""
        with self.lock:
            loc = self.location(token_or_uid)
            loc.assets[loc.asset_index[(adam_id, pricing_param)]].transferred = True
            loc.bump()
            self.mark_dirty()

    # --- read access for tests ----------------------------------------------------------------

    def asset(self, token_or_uid: str, adam_id: str, pricing_param: str = "STDQ") -> dict[str, Any]:
        """One asset as Get Assets shows it."""
        with self.lock:
            loc = self.location(token_or_uid)
            return loc.assets[loc.asset_index[(adam_id, pricing_param)]].as_json()

    def users(self, token_or_uid: str) -> list[dict[str, Any]]:
        """Every user row as Get Users shows it."""
        with self.lock:
            loc = self.location(token_or_uid)
            return [loc.users.as_json(i) for i in range(len(loc.users))]

    def user(self, token_or_uid: str, client_user_id: str) -> dict[str, Any] | None:
        """The newest row for a clientUserId, or None."""
        rows = [u for u in self.users(token_or_uid) if u["clientUserId"] == client_user_id]
        return rows[-1] if rows else None

    def assignments(self, token_or_uid: str) -> list[dict[str, Any]]:
        """Every assignment as Get Assignments shows it."""
        with self.lock:
            loc = self.location(token_or_uid)
            return [loc.assignment_json(i) for i in range(len(loc.assignments))]

    def event(self, token_or_uid: str, event_id: str) -> dict[str, Any]:
        """An event as Event Status shows it."""
        with self.lock:
            return events.status_json(self.location(token_or_uid).events[event_id])

    def metadata_for(self, adam_id: str) -> dict[str, Any] | None:
        """Store metadata for the look-up: catalogue entry, else synthetic for owned assets."""
        with self.lock:
            meta = self.state.metadata.get(adam_id)
            if meta is not None:
                return meta
            for loc in (self.template, *self.state.locations.values()):
                for asset in loc.assets:
                    if asset.adam_id == adam_id:
                        return synthetic_metadata(adam_id, asset.product_type)
        return None
