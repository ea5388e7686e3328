"""Writes of the API app: keys, and the directory upserts and device reports it accepts."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from api.errors import ApiProblem
from api.models import ApiKey
from assignments.license_records import install_requests_record
from assignments.models import (
    BookOffer,
    Device,
    GroupAssignment,
    InstallRequest,
    Person,
    UserGroup,
)
from assignments.selectors import ebooks_assigned_to_groups, ebooks_assigned_to_people
from assignments.services import (
    LicensesNeedConfirmation,
    directory_changed,
    group_members_change,
    licenses_checked,
    people_relink,
)
from ebooks.models import EBook

logger = logging.getLogger(__name__)

KEY_PREFIX = "shk_"
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_hash(raw: str) -> str:
    """The stored form of a key: its SHA-256 (the key itself carries 256 random bits)."""
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw: str  # shown once to whoever created it; never stored


def api_key_create(*, name: str, scope: str, user=None) -> IssuedKey:
    """Make a key; the caller shows `raw` once, only its hash is kept."""
    if scope not in ApiKey.Scope.values:
        raise ValueError(f"Unknown scope {scope!r}.")
    prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name.strip() or "API key",
        scope=scope,
        prefix=f"{KEY_PREFIX}{prefix}",
        key_hash=key_hash(raw),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    logger.info("API key %s (%s) created by %s", api_key.pk, scope, getattr(user, "pk", None))
    return IssuedKey(api_key=api_key, raw=raw)


def api_keys_revoke(*, keys, user=None) -> int:
    """Revoke keys for good; they stop working on the next request."""
    revoked = keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    logger.info("%s API key(s) revoked by %s", revoked, getattr(user, "pk", None))
    return revoked


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record that the key was used, at most once per LAST_USED_RESOLUTION."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    api_key.last_used_at = now


DEMO_DEVICE_KEY_NAME = "Device simulator (demo)"


def demo_device_key_issue() -> str:
    """A fresh device-channel key for `simulate_devices`; earlier demo keys are revoked.

    Issued in the simulator's own process at each start, so the key is never written to disk.
    """
    api_keys_revoke(keys=ApiKey.objects.filter(name=DEMO_DEVICE_KEY_NAME))
    return api_key_create(name=DEMO_DEVICE_KEY_NAME, scope=ApiKey.Scope.DEVICE).raw


# --- directory upserts (for directory scripts) ---------------------------------------------


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def _refuse(errors: list[str]) -> None:
    if errors:
        raise ApiProblem(
            f"Nothing was saved: {len(errors)} problem(s). " + " ".join(errors[:20]),
            code="invalid-items",
            extra={"errors": errors[:1000]},
        )


def _duplicates(items: list[dict], field: str, what: str) -> list[str]:
    seen: dict[str, int] = {}
    errors = []
    for index, item in enumerate(items):
        value = item[field]
        if value in seen:
            errors.append(f"{what}[{index}]: {field} “{value}” is also item {seen[value]}.")
        seen.setdefault(value, index)
    return errors


def _confirmed(confirm_irrevocable: bool | None, expected_licenses: int | None) -> int | None:
    """The licenses a caller agreed to use for good (None: agreed to none)."""
    return expected_licenses if confirm_irrevocable is True else None


def _licenses_refused(error: LicensesNeedConfirmation) -> ApiProblem:
    return ApiProblem(
        f"Nothing was saved: this change would permanently use {error.count:,} book licenses. "
        f"Send it again with confirm_irrevocable=true and expected_licenses={error.count}. "
        + " ".join(error.lines),
        code="licenses-need-confirmation",
        status_code=409,
        extra={"licenses": error.count, "lines": error.lines},
    )


_PERSON_FIELDS = ("email", "display_name", "managed_apple_id", "active")


@transaction.atomic
def people_upsert(
    *,
    items: list[dict],
    confirm_irrevocable: bool | None = None,
    expected_licenses: int | None = None,
) -> UpsertResult:
    """Create or update people keyed by external_id; a person known only by email is adopted.

    All items are checked before anything is written: one bad item saves nothing. Bringing
    people back (active) may hand them licenses: that needs the licenses confirmed.
    """
    for item in items:
        item["email"] = item["email"].lower()
        if item.get("managed_apple_id"):
            item["managed_apple_id"] = item["managed_apple_id"].lower()
    errors = _duplicates(items, "external_id", "people") + _duplicates(items, "email", "people")
    by_external = {
        p.external_id: p
        for p in Person.objects.filter(external_id__in=[i["external_id"] for i in items])
    }
    by_email = {p.email: p for p in Person.objects.filter(email__in=[i["email"] for i in items])}
    for index, item in enumerate(items):
        owner = by_email.get(item["email"])
        mine = by_external.get(item["external_id"])
        if owner is not None and owner != mine and owner.external_id is not None:
            errors.append(
                f"people[{index}]: {item['email']} already belongs to the person with "
                f"external_id “{owner.external_id}”."
            )
    _refuse(errors)

    created, changed, active_changed = [], [], []
    unchanged = 0
    for item in items:
        person = by_external.get(item["external_id"]) or by_email.get(item["email"])
        if person is None:
            created.append(Person(**{"active": True, **item}))
            continue
        before = (person.external_id, *(getattr(person, f) for f in _PERSON_FIELDS))
        was_active = person.active
        person.external_id = item["external_id"]
        for field in _PERSON_FIELDS:
            if field in item:
                setattr(person, field, item[field])
        if before == (person.external_id, *(getattr(person, f) for f in _PERSON_FIELDS)):
            unchanged += 1
            continue
        changed.append(person)
        if person.active != was_active:
            active_changed.append(person.pk)
    try:
        with licenses_checked(
            confirmed=_confirmed(confirm_irrevocable, expected_licenses)
        ) as meter:
            if active_changed:
                meter.touch(ebook_ids=ebooks_assigned_to_people(person_ids=active_changed))
            Person.objects.bulk_update(
                changed, ["external_id", *_PERSON_FIELDS, "updated_at"], batch_size=500
            )
            Person.objects.bulk_create(created, batch_size=500)
            people_relink(emails=[person.email for person in created])
            if active_changed:
                directory_changed(
                    ebook_ids=ebooks_assigned_to_people(person_ids=active_changed),
                    person_ids=active_changed,
                )
    except LicensesNeedConfirmation as error:
        raise _licenses_refused(error) from None
    except IntegrityError:
        raise ApiProblem(
            "Nothing was saved: two people would end up with the same email. Send the "
            "changes in an order that never reuses an email in one request.",
            code="conflict",
            status_code=409,
        ) from None
    return UpsertResult(created=len(created), updated=len(changed), unchanged=unchanged)


@transaction.atomic
def groups_upsert(*, items: list[dict]) -> UpsertResult:
    """Create or update user groups keyed by external_id; a group known only by name is adopted."""
    errors = _duplicates(items, "external_id", "groups") + _duplicates(items, "name", "groups")
    by_external = {
        g.external_id: g
        for g in UserGroup.objects.filter(external_id__in=[i["external_id"] for i in items])
    }
    by_name = {g.name: g for g in UserGroup.objects.filter(name__in=[i["name"] for i in items])}
    for index, item in enumerate(items):
        named = by_name.get(item["name"])
        mine = by_external.get(item["external_id"])
        if named is not None and named != mine and named.external_id is not None:
            errors.append(
                f"groups[{index}]: the name “{item['name']}” belongs to the group with "
                f"external_id “{named.external_id}”."
            )
    _refuse(errors)
    created, changed = [], []
    unchanged = 0
    for item in items:
        group = by_external.get(item["external_id"]) or by_name.get(item["name"])
        if group is None:
            created.append(UserGroup(**item))
            continue
        before = (group.external_id, group.name, group.description)
        group.external_id, group.name = item["external_id"], item["name"]
        group.description = item.get("description", group.description)
        if before == (group.external_id, group.name, group.description):
            unchanged += 1
        else:
            changed.append(group)
    try:
        with transaction.atomic():
            UserGroup.objects.bulk_update(changed, ["external_id", "name", "description"], 500)
            UserGroup.objects.bulk_create(created, batch_size=500)
    except IntegrityError:
        raise ApiProblem(
            "Nothing was saved: two groups would end up with the same name.",
            code="conflict",
            status_code=409,
        ) from None
    return UpsertResult(created=len(created), updated=len(changed), unchanged=unchanged)


def memberships_change(
    *,
    group_external_id: str,
    add: list[str],
    remove: list[str],
    confirm_irrevocable: bool | None = None,
    expected_licenses: int | None = None,
) -> tuple[UserGroup, int, int]:
    """Add and remove members (people by external id) of the group with this external id.

    New members of a group with assignments get licenses: that needs the licenses confirmed.
    """
    group = UserGroup.objects.filter(external_id=group_external_id).first()
    errors = [] if group else [f"No group has external_id “{group_external_id}”."]
    wanted = set(add) | set(remove)
    people = dict(Person.objects.filter(external_id__in=wanted).values_list("external_id", "pk"))
    errors += [f"No person has external_id “{e}”." for e in sorted(wanted - set(people))]
    if both := set(add) & set(remove):
        errors.append(f"Both added and removed: {', '.join(sorted(both))}.")
    _refuse(errors)
    try:
        with licenses_checked(
            confirmed=_confirmed(confirm_irrevocable, expected_licenses)
        ) as meter:
            meter.touch(ebook_ids=ebooks_assigned_to_groups(group_ids=[group.pk]))
            added, removed = group_members_change(
                group=group,
                add_person_ids=[people[e] for e in add],
                remove_person_ids=[people[e] for e in remove],
            )
    except LicensesNeedConfirmation as error:
        raise _licenses_refused(error) from None
    return group, added, removed


# --- device channel ------------------------------------------------------------------------

# Apple's ManagedMediaList states → ours. "Unknown" changes nothing.
APPLE_MEDIA_STATES = {
    "Queued": InstallRequest.State.QUEUED,
    "PromptingForLogin": InstallRequest.State.INSTALLING,
    "Updating": InstallRequest.State.INSTALLING,
    "Installing": InstallRequest.State.INSTALLING,
    "Managed": InstallRequest.State.INSTALLED,
    "Installed": InstallRequest.State.INSTALLED,
    "ManagedButUninstalled": InstallRequest.State.UNINSTALLED,
    "Uninstalled": InstallRequest.State.UNINSTALLED,
    "Failed": InstallRequest.State.FAILED,
    "Unknown": None,
}
# Apple's InstallMedia rejection reasons.
APPLE_REJECTION_REASONS = (
    "CouldNotVerifyITunesStoreID",
    "PurchaseNotFound",
    "AppStoreDisabled",
    "WrongMediaType",
    "DownloadInvalid",
    "EnterpriseBooksNotSupportedInMultiUser",
)
# While the Books app is missing nothing can install; these states give way to NO_BOOKS_APP.
_WAITING = (
    InstallRequest.State.PENDING,
    InstallRequest.State.QUEUED,
    InstallRequest.State.INSTALLING,
    InstallRequest.State.FAILED,
)
_DEVICE_FIELDS = ("name", "model", "os_version", "has_books_app")


@transaction.atomic
def devices_upsert(*, items: list[dict]) -> UpsertResult:
    """Create or update devices by serial number, owner by email or external id.

    Checked whole first (unknown owners refuse everything). A device whose Books app went
    missing shows that on its installs; a new owner gets the installs of their Required books.
    """
    for item in items:
        item["serial_number"] = item["serial_number"].upper()
    errors = _duplicates(items, "serial_number", "devices")
    emails = {i["owner_email"].lower() for i in items if i.get("owner_email")}
    external_ids = {i["owner_external_id"] for i in items if i.get("owner_external_id")}
    by_email = dict(Person.objects.filter(email__in=emails).values_list("email", "pk"))
    by_external = dict(
        Person.objects.filter(external_id__in=external_ids).values_list("external_id", "pk")
    )
    owners: list[int | None] = []
    for index, item in enumerate(items):
        email, external_id = (item.get("owner_email") or "").lower(), item.get("owner_external_id")
        owner = by_email.get(email) if email else by_external.get(external_id)
        if (email or external_id) and owner is None:
            errors.append(
                f"devices[{index}]: unknown owner {email or external_id}: no such person."
            )
        owners.append(owner)
    _refuse(errors)

    existing = {
        d.serial_number: d
        for d in Device.objects.filter(serial_number__in=[i["serial_number"] for i in items])
    }
    created, changed, owner_changed = [], [], []
    books_gone, books_back = [], []
    unchanged = 0
    for item, owner in zip(items, owners, strict=True):
        device = existing.get(item["serial_number"])
        owner_given = "owner_email" in item or "owner_external_id" in item
        if device is None:
            device = Device(serial_number=item["serial_number"], owner_id=owner)
            for field in _DEVICE_FIELDS:
                if field in item:
                    setattr(device, field, item[field])
            created.append(device)
            continue
        before = (device.owner_id, *(getattr(device, f) for f in _DEVICE_FIELDS))
        had_books = device.has_books_app
        for field in _DEVICE_FIELDS:
            if field in item:
                setattr(device, field, item[field])
        if owner_given:
            device.owner_id = owner
        if before == (device.owner_id, *(getattr(device, f) for f in _DEVICE_FIELDS)):
            unchanged += 1
            continue
        changed.append(device)
        if device.owner_id != before[0]:
            owner_changed.append(device)
        if had_books and not device.has_books_app:
            books_gone.append(device.pk)
        elif not had_books and device.has_books_app:
            books_back.append(device.pk)
    Device.objects.bulk_update(changed, ["owner_id", *_DEVICE_FIELDS], batch_size=500)
    Device.objects.bulk_create(created, batch_size=500)
    now = timezone.now()
    InstallRequest.objects.filter(device_id__in=books_gone, state__in=_WAITING).update(
        state=InstallRequest.State.NO_BOOKS_APP, reason="", updated_at=now
    )
    InstallRequest.objects.filter(
        device_id__in=books_back, state=InstallRequest.State.NO_BOOKS_APP
    ).update(state=InstallRequest.State.PENDING, updated_at=now)
    _install_requests_for_owners(devices=[d for d in created + owner_changed if d.owner_id])
    return UpsertResult(created=len(created), updated=len(changed), unchanged=unchanged)


def _install_requests_for_owners(*, devices: list[Device]) -> None:
    """A newly owned device gets an install of each Required book its owner holds."""
    owner_ids = {device.owner_id for device in devices}
    if not owner_ids:
        return
    required = BookOffer.objects.filter(
        person_id__in=owner_ids, intent=GroupAssignment.Intent.REQUIRED
    ).values_list("ebook_id", "person_id")
    by_book: dict[int, set[int]] = {}
    for ebook_id, person_id in required:
        by_book.setdefault(ebook_id, set()).add(person_id)
    for ebook in EBook.objects.filter(pk__in=by_book):
        install_requests_record(ebook=ebook, person_ids=by_book[ebook.pk])


@dataclass(frozen=True)
class MediaReport:
    updated: int
    unchanged: int
    unknown_books: list[str]  # adamIds this portal has no book for: nothing was created
    not_requested: list[str]  # our books with no install request on this device


@transaction.atomic
def managed_media_report(*, device: Device, books: list[dict]) -> MediaReport:
    """Apply a device's ManagedMediaList to its install requests (validated by the caller)."""
    adam_ids = [book["adam_id"] for book in books]
    known = set(EBook.objects.filter(adam_id__in=adam_ids).values_list("adam_id", flat=True))
    requests: dict[str, list[InstallRequest]] = {}
    for request in InstallRequest.objects.filter(
        device=device, ebook__adam_id__in=adam_ids
    ).select_related("ebook"):
        requests.setdefault(request.ebook.adam_id, []).append(request)
    now = timezone.now()
    changed, unchanged = [], 0
    for book in books:
        state = APPLE_MEDIA_STATES[book["state"]]
        reason = book.get("rejection_reason") or ""
        for request in requests.get(book["adam_id"], []):
            new_state = state or request.state
            if (request.state, request.device_state, request.reason) == (
                new_state,
                book["state"],
                reason,
            ):
                unchanged += 1
                continue
            request.state, request.device_state, request.reason = new_state, book["state"], reason
            request.reported_at = request.updated_at = now
            changed.append(request)
    InstallRequest.objects.bulk_update(
        changed, ["state", "device_state", "reason", "reported_at", "updated_at"], batch_size=500
    )
    return MediaReport(
        updated=len(changed),
        unchanged=unchanged,
        unknown_books=sorted(set(adam_ids) - known),
        not_requested=sorted(known - set(requests)),
    )
