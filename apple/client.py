"""Client for Apple's App and Book Management API (v2) and the store metadata look-up."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import requests

from apple.errors import AppleError, ClaimedElsewhereError, TransientError
from apple.lookup import parse_lookup
from apple.paging import Paged
from apple.retry import RetryPolicy
from apple.transport import Transport
from apple.types import (
    Asset,
    AssetKey,
    Assignment,
    BookMetadata,
    ClientConfig,
    EventRef,
    EventStatus,
    MdmInfo,
    NewUser,
    ServiceConfig,
    User,
    parse_datetime,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LOOKUP_URL",
    "SERVICE_CONFIG_TTL",
    "AppleClient",
    "clear_service_config_cache",
]

DEFAULT_BASE_URL = "https://vpp.itunes.apple.com/mdm/v2"
DEFAULT_LOOKUP_URL = "https://uclient-api.itunes.apple.com/WebObjects/MZStorePlatform.woa/wa/lookup"

# Apple asks clients to re-read service config about every 5 minutes: limits can change.
SERVICE_CONFIG_TTL = 300.0
LOOKUP_BATCH_SIZE = 100

# Service config is the same for every token on a base URL, so all clients share one copy.
_service_configs: dict[str, tuple[float, ServiceConfig]] = {}
_service_configs_lock = threading.Lock()

T = TypeVar("T")


def clear_service_config_cache() -> None:
    """Forget every cached service config (tests, or after changing base URLs)."""
    with _service_configs_lock:
        _service_configs.clear()


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _query(**filters: Any) -> dict[str, str]:
    """Apple's query string: None is left out, booleans are lower-case words."""
    params = {}
    for key, value in filters.items():
        if value is None:
            continue
        params[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return params


class AppleClient:
    """One content token's view of Apple's service: one method per endpoint."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        lookup_url: str | None = None,
        our_mdm_id: str | None = None,
        timeout: float | tuple[float, float] = (10.0, 30.0),
        max_attempts: int = 5,
        max_total_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        self._transport = Transport(
            token,
            timeout=timeout,
            retry=RetryPolicy(max_attempts=max(1, max_attempts), max_total_wait=max_total_wait),
            sleep=sleep,
            clock=clock,
            wall_clock=wall_clock,
            rng=rng,
            session=session,
        )
        self.base_url = base_url.rstrip("/")
        self.lookup_url = lookup_url
        self.our_mdm_id = our_mdm_id
        self.last_mdm_info: MdmInfo | None = None
        # Writes first confirm (via client config) that no other MDM holds the location,
        # unless a response has already shown it; a foreign claim re-arms the check.
        self._claim_confirmed = False

    def __repr__(self) -> str:
        return f"AppleClient(base_url={self.base_url!r}, our_mdm_id={self.our_mdm_id!r})"

    @property
    def request_count(self) -> int:
        """HTTP requests sent by this client, retries included."""
        return self._transport.request_count

    # --- endpoints: configuration -------------------------------------------------------

    def service_config(self) -> ServiceConfig:
        """Limits and URLs (`GET /service/config`), cached for SERVICE_CONFIG_TTL seconds."""
        now = self._transport.clock()
        with _service_configs_lock:
            cached = _service_configs.get(self.base_url)
        if cached and now - cached[0] < SERVICE_CONFIG_TTL:
            return cached[1]
        data = self._call("GET", "/service/config", token_bound=False)
        config = ServiceConfig.from_json(data)
        with _service_configs_lock:
            _service_configs[self.base_url] = (self._transport.clock(), config)
        return config

    def client_config(self) -> ClientConfig:
        """The location's client config (`GET /client/config`)."""
        return ClientConfig.from_json(self._call("GET", "/client/config"))

    def set_client_config(self, *, mdm_info: MdmInfo, force: bool = False) -> ClientConfig:
        """Write our mdmInfo (`POST /client/config`); `force` takes over a foreign claim."""
        if self.our_mdm_id and mdm_info.id != self.our_mdm_id:
            raise ValueError("mdm_info.id must equal our_mdm_id")
        if not force:
            self._ensure_may_write()
        body = {"mdmInfo": mdm_info.to_json()}
        data = self._call("POST", "/client/config", body=body, write=True)
        return ClientConfig.from_json(data)

    def set_notifications(self, *, url: str, auth_token: str, types: Iterable[str]) -> ClientConfig:
        """Where Apple posts notifications (`POST /client/config`): URL, bearer secret, types.

        An empty url and auth_token turn notifications off.
        """
        self._ensure_may_write()
        body = {
            "notificationUrl": url,
            "notificationAuthToken": auth_token,
            "notificationTypes": list(types),
        }
        data = self._call("POST", "/client/config", body=body, write=True)
        return ClientConfig.from_json(data)

    # --- endpoints: paged reads ---------------------------------------------------------

    def assets(
        self,
        *,
        product_type: str | None = None,
        pricing_param: str | None = None,
        adam_id: str | None = None,
        revocable: bool | None = None,
        device_assignable: bool | None = None,
        min_assigned_count: int | None = None,
        max_assigned_count: int | None = None,
        min_available_count: int | None = None,
        max_available_count: int | None = None,
        unlimited: bool | None = None,
        parallel: int = 1,
    ) -> Paged[Asset]:
        """Owned assets with license counts (`GET /assets`), streamed page by page."""
        params = _query(
            productType=product_type,
            pricingParam=pricing_param,
            adamId=adam_id,
            revocable=revocable,
            deviceAssignable=device_assignable,
            minAssignedCount=min_assigned_count,
            maxAssignedCount=max_assigned_count,
            minAvailableCount=min_available_count,
            maxAvailableCount=max_available_count,
            unlimited=unlimited,
        )
        return self._paged("/assets", params, _parse_assets, parallel=parallel)

    def assignments(
        self,
        *,
        adam_id: str | None = None,
        pricing_param: str | None = None,
        client_user_id: str | None = None,
        serial_number: str | None = None,
        since_version_id: str | None = None,
        exclude_inactive_users: bool | None = None,
        include_user_state: bool | None = None,
        parallel: int = 1,
        as_json: bool = False,
    ) -> Paged[Assignment] | Paged[dict[str, Any]]:
        """Licenses held by users and devices (`GET /assignments`), streamed page by page.

        as_json: each entry as Apple's JSON object, unparsed (see _json_items).
        """
        params = _query(
            adamId=adam_id,
            pricingParam=pricing_param,
            clientUserId=client_user_id,
            serialNumber=serial_number,
            sinceVersionId=since_version_id,
            excludeInactiveUsers=exclude_inactive_users,
            includeUserState=include_user_state,
        )
        parse = (
            _json_items("assignments")
            if as_json
            else _items_parser("assignments", Assignment.from_json)
        )
        return self._paged("/assignments", params, parse, parallel=parallel)

    def users(
        self,
        *,
        since_version_id: str | None = None,
        active_only: bool | None = None,
        retired_only: bool | None = None,
        client_user_id: str | None = None,
        parallel: int = 1,
        as_json: bool = False,
    ) -> Paged[User] | Paged[dict[str, Any]]:
        """Users registered with Apple (`GET /users`), streamed page by page.

        as_json: each entry as Apple's JSON object, unparsed (see _json_items).
        """
        params = _query(
            sinceVersionId=since_version_id,
            activeOnly=active_only,
            retiredOnly=retired_only,
            clientUserId=client_user_id,
        )
        parse = _json_items("users") if as_json else _items_parser("users", User.from_json)
        return self._paged("/users", params, parse, parallel=parallel)

    def event_status(self, event_id: str) -> EventStatus:
        """Progress of an asynchronous write (`GET /status?eventId=`)."""
        data = self._call("GET", "/status", params={"eventId": event_id})
        return EventStatus.from_json(data, event_id=event_id)

    # --- endpoints: batched writes ------------------------------------------------------

    def create_users(self, users: Iterable[NewUser]) -> list[EventRef]:
        """Register users (`POST /users/create`), maxUsers per request; one EventRef each."""
        return self._user_writes("/users/create", users)

    def update_users(self, users: Iterable[NewUser]) -> list[EventRef]:
        """Change users' email / Managed Apple ID (`POST /users/update`), maxUsers per request."""
        return self._user_writes("/users/update", users)

    def retire_users(self, client_user_ids: Iterable[str]) -> list[EventRef]:
        """Retire users (`POST /users/retire`), maxUsers per request."""
        users = (NewUser(client_user_id=c) for c in client_user_ids)
        return self._user_writes("/users/retire", users)

    def associate(
        self,
        *,
        assets: Iterable[AssetKey],
        client_user_ids: Iterable[str] = (),
        serial_numbers: Iterable[str] = (),
    ) -> list[EventRef]:
        """Assign licenses (`POST /assets/associate`), split by Apple's per-request limits."""
        return self._asset_writes("/assets/associate", assets, client_user_ids, serial_numbers)

    def disassociate(
        self,
        *,
        assets: Iterable[AssetKey],
        client_user_ids: Iterable[str] = (),
        serial_numbers: Iterable[str] = (),
    ) -> list[EventRef]:
        """Release licenses (`POST /assets/disassociate`), split by Apple's per-request limits."""
        return self._asset_writes("/assets/disassociate", assets, client_user_ids, serial_numbers)

    # --- store metadata -----------------------------------------------------------------

    def lookup_metadata(
        self,
        adam_ids: Iterable[str],
        *,
        country: str = "us",
        platform: str = "volumestore",
        language: str | None = None,
        batch_size: int = LOOKUP_BATCH_SIZE,
    ) -> dict[str, BookMetadata]:
        """Title, author, cover... for many adamIds, `batch_size` ids per look-up request."""
        ids = list(dict.fromkeys(str(i) for i in adam_ids))
        if not ids:
            return {}
        url = self.lookup_url or self.service_config().urls.get(
            "contentMetadataLookup", DEFAULT_LOOKUP_URL
        )
        found: dict[str, BookMetadata] = {}
        for chunk in _chunks(ids, max(1, batch_size)):
            # The legacy service reads version/p/caller/platform/cc; iTunes reads country.
            params = _query(
                version=2,
                id=",".join(chunk),
                p="mdm-lockup",
                caller="MDM",
                platform=platform,
                cc=country,
                country=country,
                l=language,
            )
            data = self._call("GET", url, params=params, token_bound=False, cookie_auth=True)
            found.update((book.adam_id, book) for book in parse_lookup(data))
        return found

    # --- batching -----------------------------------------------------------------------

    def _user_writes(self, path: str, users: Iterable[NewUser]) -> list[EventRef]:
        """Send users in requests of at most maxUsers."""
        iterator = iter(users)
        first = next(iterator, None)
        if first is None:
            return []
        size = self.service_config().limits.max_users
        batches = (
            ({"users": [u.to_json() for u in chunk]}, {"client_user_ids": _ids(chunk)})
            for chunk in _chunks(itertools.chain([first], iterator), size)
        )
        return self._send_writes(path, batches)

    def _asset_writes(
        self,
        path: str,
        assets: Iterable[AssetKey],
        client_user_ids: Iterable[str],
        serial_numbers: Iterable[str],
    ) -> list[EventRef]:
        """Every asset chunk times every (user chunk, serial chunk) pair, each within the limits."""
        keys = [AssetKey(*key) for key in dict.fromkeys(assets)]
        # Duplicates inside one request make Apple reject the whole request (9703-9705).
        users = list(dict.fromkeys(client_user_ids))
        serials = list(dict.fromkeys(serial_numbers))
        if not keys or not (users or serials):
            return []
        limits = self.service_config().limits
        holder_chunks = list(
            itertools.zip_longest(
                _chunks(users, limits.max_client_user_ids),
                _chunks(serials, limits.max_serial_numbers),
                fillvalue=[],
            )
        )
        batches = (
            _asset_batch(asset_chunk, user_chunk, serial_chunk)
            for asset_chunk in _chunks(keys, limits.max_assets)
            for user_chunk, serial_chunk in holder_chunks
        )
        return self._send_writes(path, batches)

    def _send_writes(
        self, path: str, batches: Iterable[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[EventRef]:
        """POST each batch; on failure the error carries the events already queued."""
        events: list[EventRef] = []
        for body, covers in batches:
            try:
                if not events:
                    self._ensure_may_write()
                data = self._call("POST", path, body=body, write=True)
                events.append(_event_ref(data, covers))
            except AppleError as error:
                error.partial_events = tuple(events)
                raise
        return events

    # --- claim protection ---------------------------------------------------------------

    def _ensure_may_write(self) -> None:
        """Refuse to write while another MDM may hold the location (reads client config)."""
        if self.our_mdm_id and not self._claim_confirmed:
            self.client_config()

    def _check_claim(self, data: Mapping[str, Any], http_status: int) -> None:
        """Raise ClaimedElsewhereError when the response names another MDM."""
        info = MdmInfo.from_json(data.get("mdmInfo"))
        self.last_mdm_info = info
        if not self.our_mdm_id:
            return
        if info is not None and info.id != self.our_mdm_id:
            self._claim_confirmed = False
            raise ClaimedElsewhereError(info, http_status=http_status)
        self._claim_confirmed = True

    # --- transport ----------------------------------------------------------------------

    def _paged(
        self,
        path: str,
        params: dict[str, str],
        parse: Callable[[Mapping[str, Any]], list[T]],
        *,
        parallel: int,
    ) -> Paged[T]:
        """A lazy Paged over `path` with fixed filters."""

        def fetch(page_index: int) -> Mapping[str, Any]:
            return self._call("GET", path, params={**params, "pageIndex": str(page_index)})

        return Paged(fetch=fetch, parse=parse, parallel=parallel, label=path)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        write: bool = False,
        token_bound: bool = True,
        cookie_auth: bool = False,
    ) -> dict[str, Any]:
        """One request to `path` (or a full URL); token-bound answers are checked for claims."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        data, status = self._transport.call(
            method, url, params=params, body=body, write=write, cookie_auth=cookie_auth
        )
        if token_bound:
            self._check_claim(data, status)
        return data


def _items_parser(
    key: str, parse_one: Callable[[Mapping[str, Any]], T]
) -> Callable[[Mapping[str, Any]], list[T]]:
    """A page parser for the list under `key`."""

    def parse(page: Mapping[str, Any]) -> list[T]:
        # `type(item) is dict` first: JSON objects are dicts, and an ABC isinstance check per
        # item costs more than parsing it.
        return [
            parse_one(item)
            for item in page.get(key) or ()
            if type(item) is dict or isinstance(item, Mapping)
        ]

    return parse


def _json_items(key: str) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
    """A page parser that keeps the JSON objects under `key` as they are.

    For a bulk reader that needs three fields of a million entries (the sync): building a
    typed tuple per entry cost it more than everything else it does with the entry. The
    reader must then check the values' types itself.
    """

    def parse(page: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [item for item in page.get(key) or () if type(item) is dict]

    return parse


def _parse_assets(page: Mapping[str, Any]) -> list[Asset]:
    """Assets of one page: `assets[]` plus `unlimitedAssets[]` (when unlimited=true was asked)."""
    limited = [Asset.from_json(a) for a in page.get("assets") or () if isinstance(a, Mapping)]
    unlimited = [
        Asset.from_json(a, unlimited=True)
        for a in page.get("unlimitedAssets") or ()
        if isinstance(a, Mapping)
    ]
    return limited + unlimited


def _ids(users: list[NewUser]) -> tuple[str, ...]:
    """The clientUserIds of a batch."""
    return tuple(u.client_user_id for u in users)


def _asset_batch(
    assets: list[AssetKey], users: list[str], serials: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One ManageAssetsRequest body and what it covers."""
    body: dict[str, Any] = {
        "assets": [{"adamId": a.adam_id, "pricingParam": a.pricing_param} for a in assets]
    }
    if users:
        body["clientUserIds"] = users
    if serials:
        body["serialNumbers"] = serials
    covers = {
        "assets": tuple(assets),
        "client_user_ids": tuple(users),
        "serial_numbers": tuple(serials),
    }
    return body, covers


def _event_ref(data: Mapping[str, Any], covers: Mapping[str, Any]) -> EventRef:
    """The EventRef for a write Apple accepted."""
    event_id = data.get("eventId")
    if not event_id:
        raise TransientError("Apple accepted a write but sent no eventId", maybe_queued=True)
    return EventRef(
        event_id=str(event_id),
        token_expiration_date=parse_datetime(data.get("tokenExpirationDate")),
        **covers,
    )
