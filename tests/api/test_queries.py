"""List pages cost a fixed number of queries, however many rows they show (no N+1)."""

from __future__ import annotations

import pytest

from assignments.models import InstallRequest
from tests.factories import (
    DeviceFactory,
    EBookFactory,
    GroupAssignmentFactory,
    LicenseFactory,
    UserGroupFactory,
)

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/tokens/",
    "/api/v1/books/",
    "/api/v1/assignments/",
    "/api/v1/licenses/",
    "/api/v1/invitations/",
    "/api/v1/people/",
    "/api/v1/memberships/",
]


def _rows(count: int) -> None:
    for _ in range(count):
        license_ = LicenseFactory()
        assignment = GroupAssignmentFactory(ebook=license_.ebook)
        assignment.excluded_groups.add(UserGroupFactory(members=[license_.person]))
        InstallRequest.objects.create(
            device=DeviceFactory(owner=license_.person), ebook=license_.ebook
        )
    EBookFactory()


@pytest.mark.parametrize("url", LISTS)
def test_list_queries_do_not_grow_with_rows(url, admin_api, django_assert_max_num_queries):
    _rows(2)
    with django_assert_max_num_queries(8) as few:
        assert admin_api.get(url).status_code == 200
    _rows(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(admin_api.get(url).json()["results"]) > 2


def test_license_list_rows_equal_the_license_serializer(admin_api):
    from datetime import timedelta

    from django.utils import timezone

    from api.serializers import LicenseSerializer
    from assignments.models import License

    LicenseFactory(assigned_at=timezone.now() - timedelta(days=3), error_number=9610)
    LicenseFactory(person=None, state=License.State.FAILED, error_message="Nope")
    listed = admin_api.get("/api/v1/licenses/").json()["results"]
    expected = LicenseSerializer(License.objects.order_by("pk"), many=True).data
    assert listed == [dict(row) for row in expected]
    assert len(listed) == 2
