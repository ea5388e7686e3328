"""Invitation codes reach the person by email only: no page shows one, whatever the role."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from assignments.models import AppleUser
from tests.factories import AppleUserFactory

pytestmark = pytest.mark.django_db
CODE = "INVITE-CODE-3f9a1c77e2"


@pytest.fixture
def invited():
    return AppleUserFactory(
        status=AppleUser.Status.REGISTERED,
        invite_code=CODE,
        invitation_sent_at=timezone.now(),
        managed=False,
    )


@pytest.mark.parametrize(
    "who", ["viewer_client", "operator_client", "portal_admin_client", "admin_client"]
)
def test_no_role_sees_an_invitation_code(request, who, invited):
    client = request.getfixturevalue(who)
    change = client.get(reverse("admin:assignments_appleuser_change", args=[invited.pk]))
    listing = client.get(reverse("admin:assignments_appleuser_changelist"))
    for response in (change, listing):
        assert CODE not in response.content.decode()
    assert change.status_code == 200
    assert "not accepted yet" in change.content.decode()
    assert "sent " in listing.content.decode()


def test_an_accepted_invitation_is_shown_as_accepted(admin_client):
    joined = AppleUserFactory(
        status=AppleUser.Status.ASSOCIATED, invitation_sent_at=timezone.now(), managed=False
    )
    page = admin_client.get(reverse("admin:assignments_appleuser_change", args=[joined.pk]))
    assert "accepted" in page.content.decode()
    assert "not accepted yet" not in page.content.decode()
