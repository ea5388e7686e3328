"""Signals this app sends; the sync app listens so this app never imports it.

`licenses_wanted_changed` is sent after the transaction that changed who should hold a book
commits (a group assignment created, changed or removed, a membership added or removed, a person
deactivated or reactivated):

    licenses_wanted_changed.send(sender=GroupAssignment, token_ids=[1, 3], trigger="membership")

`token_ids` is a sorted list of the distinct VppToken ids whose desired licenses may have changed.
`trigger` says why: an assignment changed (`assignment`) or who is in a group, or active, did
(`membership`: members added or removed, a directory import, people deactivated or deleted).
Receivers should queue the license reconciler for those tokens and return quickly.
"""

from __future__ import annotations

import django.dispatch

WANTED_ASSIGNMENT = "assignment"
WANTED_MEMBERSHIP = "membership"

licenses_wanted_changed = django.dispatch.Signal()
