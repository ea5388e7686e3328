"""HTTP front: a ThreadingHTTPServer routing to the v2 API, look-up, artwork, invitations and
the `/_sim/` control endpoints, with faults applied to the Apple-facing paths."""

from __future__ import annotations

import contextlib
import html
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from apple.simulator import api, artwork, control
from apple.simulator.errors import ApiError, error_body
from apple.simulator.faults import FOREIGN_MDM_INFO, FaultDecision
from apple.simulator.lookup import lookup_body

if TYPE_CHECKING:
    from apple.simulator.simulator import Simulator

_ARTWORK = re.compile(r"^/artwork/(?P<id>[\w.-]+)/(?P<w>\d+)x(?P<h>\d+)(?:bb)?\.(?P<f>\w+)$")
_FAULT_STATUS = {
    "429": (429, 9646),
    "500": (500, 9603),
    "expired": (401, 9621),
    "revoked": (401, 9625),
}


class Response:
    """Status, body bytes and headers of one answer."""

    def __init__(
        self,
        status: int,
        body: bytes | dict[str, Any] | list[Any],
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.payload = body if isinstance(body, dict | list) else None
        self.body = body if isinstance(body, bytes) else b""
        self.content_type = content_type
        self.headers = headers or {}

    def encode(self) -> bytes:
        """The bytes to send."""
        if self.payload is not None:
            return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode()
        return self.body


class SimulatorHTTPServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can close idle keep-alive sockets."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, sim: Simulator) -> None:
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client socket."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    """One request; everything interesting happens in `_dispatch`."""

    protocol_version = "HTTP/1.1"  # keep-alive: paging clients reuse one connection
    server: SimulatorHTTPServer
    server_version = "ShelfkeeperVPPSimulator/1.0"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes; without this Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        with sim.lock:
            sim.requests_in_flight += 1
        try:
            self._answer(sim, method)
        finally:
            with sim.lock:
                sim.requests_in_flight -= 1

    def _answer(self, sim: Simulator, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        base_url = f"http://{self.headers.get('Host') or f'{sim.host}:{sim.port}'}"

        decision = FaultDecision()
        if path.startswith("/mdm/v2/") or path == "/lookup":
            decision = sim.faults.decide(method, path)
            if decision.delay:
                time.sleep(decision.delay)
        if decision.terminal:
            response = _fault_response(decision)
        else:
            try:
                response = self._route(sim, method, path, query, headers, body, base_url)
            except ApiError as exc:
                response = Response(exc.http_status, exc.body())
            except Exception as exc:  # an unexpected bug must still answer like Apple's 500
                response = Response(500, error_body(9603, f"Simulator error: {exc!r}"))
        if decision.claimed and isinstance(response.payload, dict) and "uId" in response.payload:
            response.payload["mdmInfo"] = dict(FOREIGN_MDM_INFO)
        data = response.encode()
        if decision.garbage:
            data = data[: max(1, len(data) // 2)]
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _route(
        self,
        sim: Simulator,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        base_url: str,
    ) -> Response:
        if path.startswith("/mdm/v2/"):
            req = api.Request(
                method, path[len("/mdm/v2/") :].strip("/"), query, headers, body, base_url
            )
            with sim.lock:
                status, payload = api.handle(sim, req)
                for loc in list(sim.state.locations.values()):
                    if loc.applied:
                        sim.notify_applied(loc)
            return Response(status, payload)
        if path == "/lookup":
            return _lookup(sim, method, query, base_url)
        if path.startswith("/artwork/"):
            return _artwork(method, path)
        if path == "/invite":
            return _invite(sim, query)
        if path.startswith("/_sim/"):
            status, payload = control.handle(sim, method, path[len("/_sim/") :], query, body)
            return Response(status, payload)
        return Response(404, {"errorMessage": "Not Found"})


def _fault_response(decision: FaultDecision) -> Response:
    headers = {}
    if decision.retry_after is not None:
        headers["Retry-After"] = f"{decision.retry_after:g}"
    if decision.terminal == "503":
        page = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
        return Response(503, page, "text/html; charset=utf-8", headers)
    status, number = _FAULT_STATUS[decision.terminal or "500"]
    return Response(status, error_body(number), headers=headers)


def _lookup(sim: Simulator, method: str, query: dict[str, str], base_url: str) -> Response:
    if method != "GET":
        return Response(405, {"errorMessage": "Method Not Allowed"})
    ids = [i.strip() for i in query.get("id", "").split(",") if i.strip()]
    metadata = {i: m for i in ids if (m := sim.metadata_for(i)) is not None}
    cc = (query.get("cc") or "us").lower()
    language = query.get("l") or "en-us"
    return Response(200, lookup_body(ids, metadata, base_url=base_url, cc=cc, language=language))


def _artwork(method: str, path: str) -> Response:
    match = _ARTWORK.match(path)
    if method != "GET" or not match:
        return Response(404, {"errorMessage": "Not Found"})
    data = artwork.cover(match["id"], int(match["w"]), int(match["h"]))
    return Response(200, data, "image/png", {"Cache-Control": "max-age=86400"})


def _invite(sim: Simulator, query: dict[str, str]) -> Response:
    code = query.get("inviteCode", "")
    try:
        user = sim.accept_invitation(code)
    except KeyError:
        page = "<h1>Invitation not found</h1><p>This invitation code is unknown.</p>"
        return Response(404, _html("Invitation not found", page), "text/html; charset=utf-8")
    page = (
        "<h1>Invitation accepted</h1>"
        f"<p>Your Apple Account is now linked to {html.escape(user['clientUserId'])} "
        f"(status: {html.escape(user['status'])}). Books assigned to you will install.</p>"
    )
    return Response(200, _html("Invitation accepted", page), "text/html; charset=utf-8")


def _html(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body>{body}</body></html>"
    ).encode()


def make_server(sim: Simulator, host: str, port: int) -> SimulatorHTTPServer:
    """Bind the server (port 0 = any free port)."""
    return SimulatorHTTPServer((host, port), Handler, sim)
