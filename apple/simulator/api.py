"""Apple's App and Book Management API v2, as plain request -> (status, JSON) handlers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apple.simulator import events, tokens
from apple.simulator.errors import ApiError, error_codes
from apple.simulator.params import (
    asset_info,
    asset_keys,
    dupes,
    holders,
    page,
    query_bool,
    query_int,
    since,
)
from apple.simulator.store import Location

if TYPE_CHECKING:
    from apple.simulator.simulator import Simulator

DEFAULT_LIMITS: dict[str, int] = {
    "maxAssets": 25,
    "maxUsers": 100,
    "maxNotificationLength": 512,
    "maxClientUserIds": 1000,
    "maxSerialNumbers": 1000,
    "maxRevokeClientUserIds": 100,
    "maxRevokeSerialNumbers": 100,
    "maxSubscriptions": 25,
    "maxSubscriptionClientUserIds": 1000,
    "maxMdmNameLength": 100,
    "maxMdmIdLength": 100,
    "maxMdmMetadataLength": 255,
}
NOTIFICATION_TYPES = ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL_NAMES = {
    "clientConfig": "client/config",
    "createUsers": "users/create",
    "updateUsers": "users/update",
    "retireUsers": "users/retire",
    "getUsers": "users",
    "getAssets": "assets",
    "getAssignments": "assignments",
    "associateAssets": "assets/associate",
    "disassociateAssets": "assets/disassociate",
    "revokeAssets": "assets/revoke",
    "eventStatus": "status",
}


@dataclass
class Request:
    """What a handler needs from an HTTP request."""

    method: str
    path: str  # below /mdm/v2/, without a leading slash
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    base_url: str = ""

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; 9602 if it is not one."""
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(9602, "The request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise ApiError(9602, "The request body must be a JSON object.")
        return data


@dataclass
class Auth:
    """An authenticated request's location and token."""

    location: Location
    claims: tokens.TokenClaims
    common: dict[str, Any] = field(default_factory=dict)


Handler = Callable[["Simulator", Request, Auth], dict[str, Any]]


def _queue(sim: Simulator, auth: Auth, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Store the event; apply it now when there is no delay. Returns an EventResponse."""
    loc = auth.location
    event = events.new_event(loc, event_type, payload, now=sim.clock(), delay=sim.event_delay)
    if sim.event_delay <= 0:
        events.run_through(loc, event["eventId"])
    else:
        sim.note_pending(loc)
    sim.mark_dirty()
    return {"eventId": event["eventId"]}


# --- endpoints --------------------------------------------------------------------------------


def service_config(sim: Simulator, req: Request) -> dict[str, Any]:
    """GET /service/config: no token needed."""
    api = f"{req.base_url}/mdm/v2"
    urls = {name: f"{api}/{path}" for name, path in _URL_NAMES.items()}
    urls["invitationEmail"] = f"{req.base_url}/invite?inviteCode=%25inviteCode%25&mt=8"
    urls["contentMetadataLookup"] = f"{req.base_url}/lookup"
    return {
        "errorCodes": error_codes(),
        "limits": dict(sim.limits),
        "notificationTypes": list(NOTIFICATION_TYPES),
        "urls": urls,
    }


def _client_config_json(auth: Auth) -> dict[str, Any]:
    loc = auth.location
    s = loc.settings
    out: dict[str, Any] = {
        "countryISO2ACode": s["countryISO2ACode"],
        "defaultPlatform": s["defaultPlatform"],
        "locationName": loc.name,
        "subscribedNotificationTypes": list(s.get("subscribedNotificationTypes") or []),
        "websiteURL": s["websiteURL"],
    }
    for key in ("notificationUrl", "notificationAuthToken"):
        if s.get(key):
            out[key] = s[key]
    return out


def get_client_config(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """GET /client/config."""
    return _client_config_json(auth)


def post_client_config(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /client/config: mdmInfo and notification settings."""
    body = req.json()
    limits = sim.limits
    loc = auth.location
    mdm_info = None
    if "mdmInfo" in body:
        info = body["mdmInfo"]
        if not isinstance(info, dict) or any(
            not isinstance(info.get(k), str) for k in ("id", "name", "metadata")
        ):
            raise ApiError(9723)
        if len(info["id"]) > limits["maxMdmIdLength"]:
            raise ApiError(9724)
        if len(info["name"]) > limits["maxMdmNameLength"]:
            raise ApiError(9725)
        if len(info["metadata"]) > limits["maxMdmMetadataLength"]:
            raise ApiError(9713)
        mdm_info = {k: info[k] for k in ("id", "name", "metadata")}
    url, token = body.get("notificationUrl"), body.get("notificationAuthToken")
    if ("notificationUrl" in body) != ("notificationAuthToken" in body) or bool(url) != bool(token):
        raise ApiError(9710)
    if url:
        if (
            len(str(url)) > limits["maxNotificationLength"]
            or len(str(token)) > limits["maxNotificationLength"]
        ):
            raise ApiError(9711)
        # HTTPS as Apple requires, or plain HTTP to this machine (a local portal in demos).
        if not re.match(r"^https://[^/\s?#]+(/[^\s?#]*)?$", str(url)) and not re.match(
            r"^http://(127\.0\.0\.1|localhost)(:\d+)?(/[^\s?#]*)?$", str(url)
        ):
            raise ApiError(9712)
    types = body.get("notificationTypes")
    if types is not None and (
        not isinstance(types, list) or any(t not in NOTIFICATION_TYPES for t in types)
    ):
        raise ApiError(9602, "Unknown notification type.")
    if mdm_info is not None:
        loc.mdm_info = mdm_info
        auth.common["mdmInfo"] = dict(mdm_info)
    if "notificationUrl" in body:
        loc.settings["notificationUrl"] = url or None
        loc.settings["notificationAuthToken"] = token or None
    if types is not None:
        loc.settings["subscribedNotificationTypes"] = list(types)
    sim.mark_dirty()
    if url:
        sim.notifier.emit(loc, "TEST_NOTIFICATION", {})
    return _client_config_json(auth)


def get_assets(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """GET /assets with Apple's filters."""
    q = req.query
    loc = auth.location
    product_type = q.get("productType") or None
    pricing = q.get("pricingParam") or None
    adam_id = q.get("adamId") or None
    revocable = query_bool(q, "revocable")
    device = query_bool(q, "deviceAssignable")
    unlimited = query_bool(q, "unlimited")
    bounds = {
        name: query_int(q, name)
        for name in (
            "minAssignedCount",
            "maxAssignedCount",
            "minAvailableCount",
            "maxAvailableCount",
        )
    }
    if product_type not in (None, "App", "Book"):
        raise ApiError(9602, "productType must be App or Book.")
    if pricing not in (None, "STDQ", "PLUS"):
        raise ApiError(9602, "pricingParam must be STDQ or PLUS.")

    def keep(a: Any) -> bool:
        return (
            (product_type is None or a.product_type == product_type)
            and (pricing is None or a.pricing_param == pricing)
            and (adam_id is None or a.adam_id == adam_id)
            and (revocable is None or a.revocable == revocable)
            and (device is None or a.device_assignable == device)
            and (unlimited is None or a.unlimited == unlimited)
            and (bounds["minAssignedCount"] is None or a.assigned >= bounds["minAssignedCount"])
            and (bounds["maxAssignedCount"] is None or a.assigned <= bounds["maxAssignedCount"])
            and (bounds["minAvailableCount"] is None or a.available >= bounds["minAvailableCount"])
            and (bounds["maxAvailableCount"] is None or a.available <= bounds["maxAvailableCount"])
        )

    matching = [a for a in loc.assets if not a.transferred and keep(a)]
    chunk, fields = page(matching, q, sim.page_size)
    name = "unlimitedAssets" if unlimited else "assets"
    out = {name: [a.as_json(unlimited_shape=bool(unlimited)) for a in chunk]}
    if unlimited:
        out["assets"] = []
    return {**out, **fields, "versionId": loc.version_id()}


def get_assignments(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """GET /assignments, incremental with sinceVersionId."""
    q = req.query
    loc = auth.location
    since_counter = since(loc, q)
    user_state = bool(query_bool(q, "includeUserState"))
    rows = loc.assignment_rows(
        adam_id=q.get("adamId") or None,
        pricing_param=q.get("pricingParam") or None,
        client_user_id=q.get("clientUserId") or None,
        serial_number=q.get("serialNumber") or None,
        since=since_counter,
        exclude_inactive=bool(query_bool(q, "excludeInactiveUsers")),
    )
    chunk, fields = page(rows, q, sim.page_size)
    items = [loc.assignment_json(i, user_state=user_state) for i in chunk]
    return {"assignments": items, **fields, "versionId": loc.version_id()}


def get_users(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """GET /users, incremental with sinceVersionId."""
    q = req.query
    loc = auth.location
    since_counter = since(loc, q)
    rows = loc.user_rows(
        active_only=bool(query_bool(q, "activeOnly")),
        retired_only=bool(query_bool(q, "retiredOnly")),
        client_user_id=q.get("clientUserId") or None,
        managed_apple_id=q.get("managedAppleId") or None,
        since=since_counter,
    )
    chunk, fields = page(rows, q, sim.page_size)
    users = loc.users
    return {"users": [users.as_json(i) for i in chunk], **fields, "versionId": loc.version_id()}


def _manage_users(sim: Simulator, req: Request, auth: Auth, event_type: str) -> dict[str, Any]:
    body = req.json()
    raw = body.get("users")
    if not raw:
        raise ApiError(9720)
    if not isinstance(raw, list) or not all(
        isinstance(u, dict) and isinstance(u.get("clientUserId"), str) and u["clientUserId"]
        for u in raw
    ):
        raise ApiError(9602, "users must be a list of objects with a clientUserId.")
    if len(raw) > sim.limits["maxUsers"]:
        raise ApiError(9714)
    cuids = [u["clientUserId"] for u in raw]
    if len(set(cuids)) != len(cuids):
        raise ApiError(9715, info={"clientUserIds": dupes(cuids)})
    users = []
    for u in raw:
        user = {"clientUserId": u["clientUserId"]}
        if event_type != "RETIRE":
            for key in ("email", "managedAppleId"):
                value = u.get(key)
                if value is None:
                    continue
                if not isinstance(value, str) or not _EMAIL.match(value):
                    raise ApiError(9717, info={"clientUserIds": [u["clientUserId"]]})
                user[key] = value
        users.append(user)
    return _queue(sim, auth, event_type, {"users": users})


def create_users(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /users/create."""
    return _manage_users(sim, req, auth, "CREATE")


def update_users(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /users/update."""
    return _manage_users(sim, req, auth, "UPDATE")


def retire_users(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /users/retire."""
    return _manage_users(sim, req, auth, "RETIRE")


def associate(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /assets/associate."""
    body = req.json()
    loc = auth.location
    keys = asset_keys(loc, body, sim.limits)
    cuids, serials = holders(body, sim.limits)
    if serials:
        bad = [k for k in keys if not loc.assets[loc.asset_index[k]].device_assignable]
        if bad:
            raise ApiError(9707, info={"assets": asset_info(bad)})
    payload = {"assets": [list(k) for k in keys], "clientUserIds": cuids, "serialNumbers": serials}
    for adam_id, pricing in keys:
        sim.requested_licenses.update((adam_id, pricing, cuid) for cuid in cuids)
    return _queue(sim, auth, "ASSOCIATE", payload)


def disassociate(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /assets/disassociate: books are never revocable (9706)."""
    body = req.json()
    loc = auth.location
    keys = asset_keys(loc, body, sim.limits)
    cuids, serials = holders(body, sim.limits)
    bad = [k for k in keys if not loc.assets[loc.asset_index[k]].revocable]
    if bad:
        raise ApiError(9706, info={"assets": asset_info(bad)})
    payload = {"assets": [list(k) for k in keys], "clientUserIds": cuids, "serialNumbers": serials}
    return _queue(sim, auth, "DISASSOCIATE", payload)


def revoke(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """POST /assets/revoke: releases revocable licenses only."""
    cuids, serials = holders(req.json(), sim.limits, revoke=True)
    return _queue(sim, auth, "REVOKE", {"clientUserIds": cuids, "serialNumbers": serials})


def event_status(sim: Simulator, req: Request, auth: Auth) -> dict[str, Any]:
    """GET /status?eventId=... (also /status/{eventId})."""
    event_id = req.query.get("eventId") or req.path.partition("/")[2]
    if not event_id:
        raise ApiError(9602, "eventId is required.")
    event = auth.location.events.get(event_id)
    if event is None:
        raise ApiError(9708)
    return events.status_json(event)


ROUTES: dict[str, dict[str, Handler]] = {
    "client/config": {"GET": get_client_config, "POST": post_client_config},
    "assets": {"GET": get_assets},
    "assignments": {"GET": get_assignments},
    "users": {"GET": get_users},
    "users/create": {"POST": create_users},
    "users/update": {"POST": update_users},
    "users/retire": {"POST": retire_users},
    "assets/associate": {"POST": associate},
    "assets/disassociate": {"POST": disassociate},
    "assets/revoke": {"POST": revoke},
    "status": {"GET": event_status},
}


def route(path: str) -> dict[str, Handler] | None:
    """Handlers for a path below /mdm/v2/, or None (404)."""
    if path.startswith("status/"):
        return ROUTES["status"]
    return ROUTES.get(path)


def authenticate(sim: Simulator, req: Request) -> Auth:
    """Check the bearer token: 9722, 9622, 9625, 9621 - then the location (created on first use)."""
    header = req.headers.get("authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise ApiError(9722)
    claims = tokens.verify(sim.state.secret, header[7:].strip())
    if claims.nonce in sim.state.revoked:
        raise ApiError(9625)
    if claims.expires_at <= sim.clock():
        raise ApiError(9621)
    loc = sim.location_for(claims)
    common: dict[str, Any] = {
        "uId": loc.uid,
        "tokenExpirationDate": tokens.format_date(claims.expires_at),
    }
    if loc.mdm_info:
        common["mdmInfo"] = dict(loc.mdm_info)
    return Auth(location=loc, claims=claims, common=common)


def handle(sim: Simulator, req: Request) -> tuple[int, dict[str, Any]]:
    """Answer one /mdm/v2/ request: (HTTP status, JSON body). Call with the lock held."""
    if req.path == "service/config":
        if req.method != "GET":
            raise ApiError(9726)
        return 200, service_config(sim, req)
    handlers = route(req.path)
    if handlers is None:
        return 404, {"errorMessage": "Not Found"}
    handler = handlers.get(req.method)
    if handler is None:
        raise ApiError(9726)
    auth = authenticate(sim, req)
    if req.method == "POST":
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(9727)
    if events.process_due(auth.location, sim.clock()):
        sim.mark_dirty()
    body = handler(sim, req, auth)
    return 200, {**body, **auth.common}
