"""seed_scale builds the district of DESIGN.md (scaled down here) with consistent rows."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from assignments.bulk_sql import mirror_orphans_count
from assignments.models import AppleUser, Device, License, Membership, Person, UserGroup
from ebooks.models import EBook
from sync.seed_scale import Sizes
from tokens.models import VppToken

pytestmark = pytest.mark.django_db


def test_seed_scale_writes_the_scaled_district_and_can_run_twice():
    sizes = Sizes.at(0.002)
    out = io.StringIO()
    call_command("seed_scale", "--scale", "0.002", stdout=out)
    assert "Seeded" in out.getvalue()
    assert VppToken.objects.count() == 5
    assert EBook.objects.count() == sizes.books
    assert Person.objects.count() == sizes.people
    assert UserGroup.objects.count() == sizes.groups
    assert Membership.objects.count() == sizes.memberships
    assert Device.objects.count() == sizes.devices
    assert AppleUser.objects.count() == sizes.people
    assert License.objects.count() == sizes.licenses
    biggest = UserGroup.objects.order_by("pk").first()
    assert biggest.memberships.count() == sizes.big_group
    # Every license points at a book and an Apple user of its own token.
    for token in VppToken.objects.all():
        assert set(mirror_orphans_count(token_id=token.pk).values()) == {0}

    call_command("seed_scale", "--scale", "0.002", stdout=io.StringIO())
    assert Person.objects.count() == 2 * sizes.people
    assert License.objects.count() == 2 * sizes.licenses
