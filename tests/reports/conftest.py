"""A small district with every awkward case the dashboards must count right."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from assignments.models import AppleUser, InstallRequest, License
from reports.models import StockThreshold
from tests.factories import (
    AppleUserFactory,
    DeviceFactory,
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    PersonFactory,
    UserGroupFactory,
    VppTokenFactory,
)
from tokens.models import VppToken

FIGURE = re.compile(r'data-figure="(?P<name>\w+)"(?: href="(?P<href>[^"]*)")?>(?P<value>[\d,]+)<')


def figures(html: str) -> dict[str, tuple[int, str]]:
    """data-figure name → (number shown, link behind it)."""
    found = {}
    for match in FIGURE.finditer(html):
        href = (match["href"] or "").replace("&amp;", "&")
        found.setdefault(match["name"], (int(match["value"].replace(",", "")), href))
    return found


@dataclass
class District:
    ok: VppToken
    expired: VppToken
    claimed: VppToken
    low: object
    plenty: object
    empty: object
    custom: object
    free: object
    alice: object
    bob: object
    carol: object
    group: object


@pytest.fixture
def district(db) -> District:
    now = timezone.now()
    ok = VppTokenFactory(name="Main", last_sync_at=now, last_sync_ok=True)
    expired = VppTokenFactory(
        name="Old",
        state=VppToken.State.EXPIRED,
        expires_at=now - timedelta(days=3),
        last_sync_at=now - timedelta(days=5),
        last_sync_ok=False,
    )
    claimed = VppTokenFactory(name="Taken", state=VppToken.State.CLAIMED_ELSEWHERE)
    low = EBookFactory(
        token=ok,
        title="Low Book",
        total_count=100,
        assigned_count=97,
        available_count=3,
        counts_as_of=now,
    )
    plenty = EBookFactory(
        token=ok,
        title="Plenty Book",
        total_count=100,
        assigned_count=20,
        available_count=80,
        counts_as_of=now,
    )
    empty = EBookFactory(
        token=expired,
        title="Empty Book",
        total_count=10,
        assigned_count=10,
        available_count=0,
        counts_as_of=now,
    )
    custom = EBookFactory(
        token=ok,
        title="Custom Book",
        total_count=100,
        assigned_count=70,
        available_count=30,
        counts_as_of=now,
    )
    StockThreshold.objects.create(ebook=custom, low_below=50)
    free = EBookFactory(token=ok, title="Free Book", free=True, assigned_count=5)
    EBookFactory(token=ok, title="Gone Book", gone=True, total_count=50, available_count=1)

    alice, bob, carol = (
        PersonFactory(email="alice@x.example"),
        PersonFactory(email="bob@x.example", active=False),
        PersonFactory(email="carol@x.example", active=False),
    )
    group = UserGroupFactory(name="Year 7", members=[alice, bob])
    GroupAssignmentFactory(ebook=low, group=group)
    LicenseFactory(ebook=low, person=alice, assigned_at=now - timedelta(days=2))
    # Bob left; his license of Plenty Book stays his, kept.
    LicenseFactory(ebook=plenty, person=bob, kept=True, assigned_at=now - timedelta(days=40))
    LicenseFactory(ebook=plenty, person=carol, state=License.State.FAILED, error_number=9600)
    LicenseFactory(ebook=low, state=License.State.FAILED)
    for _ in range(4):
        LicenseFactory(ebook=empty, state=License.State.NOT_ENOUGH)
    LicenseFactory(ebook=low, state=License.State.WAITING_INVITATION)
    AppleUserFactory(token=ok, invitation_sent_at=now - timedelta(days=3))
    AppleUserFactory(token=ok, invitation_sent_at=now - timedelta(days=40))
    AppleUserFactory(token=expired, status=AppleUser.Status.ASSOCIATED)
    device = DeviceFactory(owner=alice)
    InstallRequest.objects.create(
        device=device, ebook=low, person=alice, state=InstallRequest.State.INSTALLED
    )
    InstallRequest.objects.create(
        device=DeviceFactory(owner=alice),
        ebook=plenty,
        person=alice,
        state=InstallRequest.State.FAILED,
    )
    return District(
        ok, expired, claimed, low, plenty, empty, custom, free, alice, bob, carol, group
    )
