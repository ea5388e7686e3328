from __future__ import annotations

from django.apps import AppConfig

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS

# The directory and the assignments are edited by portal admins only; everyone else reads.
_EDITABLE = ("person", "usergroup", "membership", "device", "groupassignment")
# Written by the sync and the reconciler, never by hand.
_READ_ONLY = ("appleuser", "license", "bookoffer", "installrequest")
_VIEW_ALL = [f"view_{model}" for model in _EDITABLE + _READ_ONLY]


class AssignmentsConfig(AppConfig):
    name = "assignments"
    verbose_name = "Directory and assignments"
    # Which of this app's permissions each role gets; see config/roles.py.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: [
            *(f"{action}_{model}" for model in _EDITABLE for action in ("add", "change", "delete")),
            *_VIEW_ALL,
            "import_directory",
        ],
        OPERATORS: _VIEW_ALL,
        LICENSE_VIEWERS: _VIEW_ALL,
    }
