"""Large synthetic starting states for benchmarks.

SPEC: `books=N,users=N,assignments=N[,foreign_users=N][,apps=N][,prefix=STR][,seed=N]`

- `users` is the total number of users; `foreign_users` of them get the prefix `other-mdm-`
  (made by another product), the rest get `prefix` (default `shelfkeeper-`, "ours").
- Of our users about 80% are Associated, 15% Registered (with an invitation) and 5% Retired.
- `assignments` book licenses are spread over all users, at most one per (book, user).
- Every tenth book is owned in both STDQ and PLUS; book 0 is free (unlimited licenses); some
  books have no licenses left, the others up to a few thousand spare.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

from apple.simulator.store import (
    ASSOCIATED,
    INT32_MAX,
    REGISTERED,
    RETIRED,
    Asset,
    Location,
    id_hash_for,
    invite_code_for,
)

BOOK_ID_BASE = 1800000000
APP_ID_BASE = 1900000000
FOREIGN_PREFIX = "other-mdm-"

_INTS = ("books", "users", "assignments", "foreign_users", "apps", "seed")


class GenerateSpecError(ValueError):
    """The SPEC text is not usable."""


def parse_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """Parse a generate SPEC into a dict with defaults."""
    out: dict[str, Any] = {
        "books": 100,
        "users": 1000,
        "assignments": 0,
        "foreign_users": 0,
        "apps": 0,
        "prefix": "shelfkeeper-",
        "seed": 1,
    }
    items = spec.items() if isinstance(spec, dict) else _pairs(spec)
    for key, value in items:
        if key not in out:
            raise GenerateSpecError(f"unknown generate key {key!r}")
        if key in _INTS:
            try:
                out[key] = int(str(value).replace("_", ""))
            except ValueError as exc:
                raise GenerateSpecError(f"{key} needs an integer, got {value!r}") from exc
        else:
            out[key] = str(value)
    if out["books"] < 1:
        raise GenerateSpecError("books must be at least 1")
    if out["foreign_users"] > out["users"]:
        raise GenerateSpecError("foreign_users cannot exceed users")
    if out["assignments"] > out["users"] * out["books"]:
        raise GenerateSpecError("assignments cannot exceed users x books")
    return out


def _pairs(spec: str) -> list[tuple[str, str]]:
    pairs = []
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise GenerateSpecError(f"{part!r} must look like key=value")
        pairs.append((key.strip(), value.strip()))
    return pairs


def generate_template(spec: str | dict[str, Any]) -> Location:
    """Build a template location from a SPEC."""
    opts = parse_spec(spec)
    rng = random.Random(opts["seed"])  # noqa: S311 - reproducible data
    loc = Location()
    version = loc.counter
    n_books, n_users, n_assign = opts["books"], opts["users"], opts["assignments"]

    # Book b's STDQ asset has index b; PLUS editions and apps follow.
    for b in range(n_books):
        loc.add_asset(_book(b, "STDQ"))
    for b in range(0, n_books, 10):
        if b:
            loc.add_asset(_book(b, "PLUS"))
    for p in range(opts["apps"]):
        loc.add_asset(
            Asset(str(APP_ID_BASE + p), "STDQ", "App", True, True, total=rng.randint(10, 500))
        )

    users = loc.users
    foreign = opts["foreign_users"]
    prefix = opts["prefix"]
    status = users.status
    for i in range(n_users):
        if i < n_users - foreign:
            cuid = f"{prefix}{i:07d}"
            roll = rng.random()
            s = ASSOCIATED if roll < 0.80 else REGISTERED if roll < 0.95 else RETIRED
        else:
            cuid = f"{FOREIGN_PREFIX}{i:07d}"
            s = ASSOCIATED
        users.cuid.append(cuid)
        users.email.append(f"user{i:07d}@district.example")
        users.managed.append(None)
        status.append(s)
        users.id_hash.append(id_hash_for(cuid) if s != REGISTERED else None)
        users.invite.append(invite_code_for("", i) if s == REGISTERED else None)
        if s != RETIRED:
            users.active[cuid] = i
    users.version = array("q", [version]) * n_users

    # Assignment i goes to user i % U and that user's (i // U)-th book: unique pairs, spread out.
    counts = [0] * n_books
    a = loc.assignments
    a_asset = array("i", bytes(4 * n_assign))
    a_user = array("i", bytes(4 * n_assign))
    for i in range(n_assign):
        u = i % n_users
        b = (u * 7919 + i // n_users) % n_books
        a_asset[i] = b
        a_user[i] = u
        counts[b] += 1
    a.asset = a_asset
    a.user = a_user
    a.serial = array("i", [-1]) * n_assign
    a.version = array("q", [version]) * n_assign

    for b in range(n_books):
        asset = loc.assets[b]
        asset.assigned = counts[b]
        if b == 0:
            asset.total = INT32_MAX
        elif b % 7 == 3:
            asset.total = counts[b]  # sold out
        else:
            asset.total = counts[b] + rng.randint(1, 3000)
    return loc


def _book(b: int, pricing: str) -> Asset:
    return Asset(
        adam_id=str(BOOK_ID_BASE + b),
        pricing_param=pricing,
        product_type="Book",
        revocable=False,
        device_assignable=False,
        total=50 if pricing == "PLUS" else 0,
    )
