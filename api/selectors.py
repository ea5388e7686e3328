"""Reads of the API: resources annotated in SQL so a page never costs a query per row."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from api.serializers import INSTALL_SUMMARY_STATES
from assignments.models import Device, InstallRequest, License
from tokens.models import VppToken


def tokens_with_license_summary() -> QuerySet[VppToken]:
    """Tokens with their books' license counts summed (a handful of tokens, 2,000 books)."""
    live = Q(ebooks__gone_at__isnull=True)
    return VppToken.objects.annotate(
        total_licenses=Sum("ebooks__total_count", filter=live),
        assigned_licenses=Sum("ebooks__assigned_count", filter=live),
        available_licenses=Sum("ebooks__available_count", filter=live),
        retired_licenses=Sum("ebooks__retired_count", filter=live),
    ).order_by("pk")


def install_summaries(*, ebook_ids: list[int]) -> dict[int, dict[str, int]]:
    """Install requests of these books counted by state, one grouped query (index ebook+state)."""
    summaries = {pk: dict.fromkeys(INSTALL_SUMMARY_STATES, 0) for pk in ebook_ids}
    rows = (
        InstallRequest.objects.filter(ebook_id__in=ebook_ids)
        .values_list("ebook_id", "state")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for ebook_id, state, count in rows:
        if state in summaries[ebook_id]:
            summaries[ebook_id][state] = count
    return summaries


def install_requests_pending(*, device: Device | None = None) -> QuerySet[InstallRequest]:
    """Installs the device-management channel should send: the person's license is assigned."""
    held = Exists(
        License.objects.filter(
            ebook_id=OuterRef("ebook_id"),
            person_id=OuterRef("person_id"),
            state=License.State.ASSIGNED,
        )
    )
    requests = InstallRequest.objects.filter(state=InstallRequest.State.PENDING).filter(held)
    if device is not None:
        requests = requests.filter(device=device)
    return requests.select_related("ebook", "device", "person").order_by("pk")
