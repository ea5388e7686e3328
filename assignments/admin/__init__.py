"""Directory and assignment pages. Sized for 300,000 people: no full counts, no per-row queries.

Every write that changes who should hold a book goes through assignments.services, which keeps
licenses marked kept and tells the reconciler (the sync app) what changed.
"""

from __future__ import annotations

from assignments.admin import assign, groups, people, records
from assignments.admin.common import (
    IMPORT_PERMISSION,
    INLINE_MEMBER_LIMIT,
    KEPT_NOTE,
    NO_DEVICES_NOTE,
    BoundedCountPaginator,
)

__all__ = [
    "IMPORT_PERMISSION",
    "INLINE_MEMBER_LIMIT",
    "KEPT_NOTE",
    "NO_DEVICES_NOTE",
    "BoundedCountPaginator",
    "assign",
    "groups",
    "people",
    "records",
]
