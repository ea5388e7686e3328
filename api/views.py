"""Resource endpoints. Thin: validate, call one service or selector, answer."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes, schema
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from api import filters, serializers
from api.audit import api_action_record
from api.authentication import KeyPrincipal
from api.errors import ApiProblem
from api.pagination import IdOrderCursorPagination, ReleasedResponseMixin
from api.selectors import install_summaries, tokens_with_license_summary
from api.services import groups_upsert, memberships_change, people_upsert
from assignments import services as assignment_services
from assignments.invitations import InvitationError, invitations_send
from assignments.models import AppleUser, GroupAssignment, License, Membership, Person, UserGroup
from assignments.selectors import assignment_preview
from ebooks.models import EBook
from reports.selectors import forecasts_read
from sync.models import ReconcileRun, SyncRun
from sync.services import sync_request
from tokens.parsing import MAX_FILE_BYTES
from tokens.services import token_renew


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])
@schema(None)
def not_found(request):
    """No such endpoint (kept out of the schema)."""
    raise NotFound("No such endpoint. See /api/v1/docs/ for the ones there are.")


class SignedInPermission(IsAuthenticated):
    """The schema: any signed-in user or valid key may read the API's description."""


def acting_user(request):
    """The portal account behind a request; None for an API key (it is no account)."""
    return None if isinstance(request.user, KeyPrincipal) else request.user


# Ids in paths: digits a 64-bit integer holds; anything else is the catch-all problem 404.
ID_PATTERN = r"[0-9]{1,18}"


def _view(perm: str) -> dict[str, tuple[str, ...]]:
    return {"list": (perm,), "retrieve": (perm,)}


def _preview_data(preview) -> dict:
    data = serializers.AssignmentPreviewSerializer(
        {**preview.__dict__, "lines": preview.lines()}
    ).data
    return dict(data)


class TokenViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Content tokens: state, expiry, last sync and license summary. Never the token itself."""

    lookup_value_regex = ID_PATTERN
    queryset = tokens_with_license_summary()
    serializer_class = serializers.TokenSerializer
    filterset_class = filters.TokenFilter
    required_permissions = {
        **_view("tokens.view_vpptoken"),
        "sync": ("tokens.view_vpptoken", "sync.trigger_sync"),
        "renew": ("tokens.change_vpptoken",),
    }

    @extend_schema(
        request=None,
        responses={200: serializers.SyncRunSerializer, 202: serializers.SyncRunSerializer},
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Sync now: queue a run (202), or return the run already queued or running (200)."""
        token = self.get_object()
        result = sync_request(
            token=token, trigger=SyncRun.Trigger.MANUAL, user=acting_user(request)
        )
        if result.created:
            api_action_record(request=request, action="token.sync", target=token)
        return Response(
            serializers.SyncRunSerializer(result.run).data,
            status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(
        request={"multipart/form-data": serializers.TokenRenewSerializer},
        responses=serializers.TokenSerializer,
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def renew(self, request, pk=None):
        """Replace the token's file with the renewed one from Apple (same location)."""
        token = self.get_object()
        form = serializers.TokenRenewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data["file"].read(MAX_FILE_BYTES + 1)
        token_renew(token=token, file_bytes=data)
        api_action_record(request=request, action="token.renew", target=token)
        return Response(self.get_serializer(self.get_queryset().get(pk=token.pk)).data)


def _forecasts(books) -> dict:
    """The dashboards' run-out forecasts for a page of books (a few queries for all of them)."""
    return {forecast.ebook.pk: forecast for forecast in forecasts_read(ebooks=list(books))}


class BookViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Books with Apple's counts ("as of" when last read), install summary and forecast."""

    lookup_value_regex = ID_PATTERN
    queryset = EBook.objects.order_by("pk")
    serializer_class = serializers.BookSerializer
    filterset_class = filters.BookFilter
    required_permissions = _view("ebooks.view_ebook")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {
            **self.get_serializer_context(),
            "install_summaries": install_summaries(ebook_ids=[book.pk for book in page]),
            "forecasts": _forecasts(page),
        }
        data = serializers.BookSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)

    def retrieve(self, request, *args, **kwargs):
        book = self.get_object()
        context = {
            **self.get_serializer_context(),
            "install_summaries": install_summaries(ebook_ids=[book.pk]),
            "forecasts": _forecasts([book]),
        }
        return Response(serializers.BookSerializer(book, context=context).data)


class AssignmentViewSet(
    ReleasedResponseMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Books assigned to user groups. Licenses given can never be taken back."""

    lookup_value_regex = ID_PATTERN
    queryset = GroupAssignment.objects.prefetch_related("excluded_groups").order_by("pk")
    serializer_class = serializers.GroupAssignmentSerializer
    filterset_class = filters.AssignmentFilter
    required_permissions = {
        **_view("assignments.view_groupassignment"),
        "preview": ("assignments.add_groupassignment",),
        "create": ("assignments.add_groupassignment",),
        "partial_update": ("assignments.change_groupassignment",),
        "destroy": ("assignments.delete_groupassignment",),
    }

    @extend_schema(
        request=serializers.AssignmentPreviewRequestSerializer,
        responses=serializers.AssignmentPreviewSerializer,
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        """What assigning would do, the admin's numbers; nothing is saved."""
        form = serializers.AssignmentPreviewRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return Response(_preview_data(assignment_preview(**form.validated_data)))

    @extend_schema(
        request=serializers.AssignmentCreateSerializer,
        responses={201: serializers.AssignmentCreatedSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Assign a book: needs confirm_irrevocable=true and the preview's will_consume."""
        form = serializers.AssignmentCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with transaction.atomic():
            # One assignment of a book at a time, so the checked count is the one spent.
            ebook = EBook.objects.select_for_update().get(pk=data["ebook"].pk)
            preview = assignment_preview(
                ebook=ebook,
                groups=data["groups"],
                excluded_groups=data["excluded_groups"],
                cap=data["cap"],
            )
            _check_confirmation(data, preview)
            assignments = assignment_services.group_assignment_create(
                ebook=ebook,
                groups=data["groups"],
                intent=data["intent"],
                excluded_groups=data["excluded_groups"],
                cap=data["cap"],
                confirmed_irrevocable=True,
                user=acting_user(request),
            )
        for assignment in assignments:
            api_action_record(
                request=request,
                action="assignment.create",
                target=assignment,
                detail=f"{preview.will_consume} licenses previewed",
            )
        body = {
            "assignments": serializers.GroupAssignmentSerializer(assignments, many=True).data,
            "preview": _preview_data(preview),
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=serializers.AssignmentUpdateSerializer,
        responses=serializers.GroupAssignmentSerializer,
    )
    def partial_update(self, request, *args, **kwargs):
        """Change intent or cap: the same preview and confirmation as creating."""
        assignment = self.get_object()
        form = serializers.AssignmentUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        intent = data.get("intent", assignment.intent)
        cap = data.get("cap", assignment.cap)
        with transaction.atomic():
            ebook = EBook.objects.select_for_update().get(pk=assignment.ebook_id)
            if (intent, cap) != (assignment.intent, assignment.cap):
                # As in the admin: the same preview and confirmation as a new assignment.
                preview = assignment_preview(
                    ebook=ebook,
                    groups=[assignment.group_id],
                    excluded_groups=list(assignment.excluded_groups.all()),
                    cap=cap,
                )
                _check_confirmation(data, preview)
            assignment = assignment_services.group_assignment_update(
                assignment=assignment,
                intent=intent,
                cap=cap,
                confirmed_irrevocable=True,
                user=acting_user(request),
            )
        api_action_record(request=request, action="assignment.update", target=assignment)
        return Response(self.get_serializer(assignment).data)

    def destroy(self, request, *args, **kwargs):
        """Remove an assignment; licenses already given stay with the people (kept)."""
        assignment = self.get_object()
        api_action_record(request=request, action="assignment.delete", target=assignment)
        assignment_services.group_assignment_remove(
            assignment=assignment, user=acting_user(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _check_confirmation(data, preview) -> None:
    """Refuse unless the caller confirmed irrevocability for exactly the previewed count."""
    extra = {"preview": _preview_data(preview)}
    if data.get("confirm_irrevocable") is not True:
        raise ApiProblem(
            "Book licenses can never be taken back: send confirm_irrevocable=true with "
            f"expected_licenses={preview.will_consume} (from the preview) to go ahead.",
            code="confirmation-required",
            extra=extra,
        )
    expected = data.get("expected_licenses")
    if type(expected) is not int or expected != preview.will_consume:
        raise ApiProblem(
            f"The preview changed: this would now use {preview.will_consume} licenses, not "
            f"{expected}. Check the new numbers and send them as expected_licenses.",
            code="stale-preview",
            status_code=status.HTTP_409_CONFLICT,
            extra=extra,
        )


class PersonViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """People of the directory; directory scripts upsert them by external id."""

    lookup_value_regex = ID_PATTERN
    queryset = Person.objects.order_by("pk")
    serializer_class = serializers.PersonSerializer
    filterset_class = filters.PersonFilter
    required_permissions = {
        **_view("assignments.view_person"),
        "upsert": ("assignments.add_person", "assignments.change_person"),
    }

    @extend_schema(
        request=serializers.PeopleUpsertSerializer, responses=serializers.UpsertResultSerializer
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request):
        """Create or update up to 1,000 people keyed by external_id; all or nothing."""
        form = serializers.PeopleUpsertSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        result = people_upsert(
            items=data["people"],
            confirm_irrevocable=data.get("confirm_irrevocable"),
            expected_licenses=data.get("expected_licenses"),
        )
        api_action_record(request=request, action="people.upsert", detail=str(result))
        return Response(result.__dict__)


class GroupViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """User groups; directory scripts upsert them by external id."""

    lookup_value_regex = ID_PATTERN
    queryset = UserGroup.objects.order_by("pk")
    serializer_class = serializers.GroupSerializer
    filterset_class = filters.GroupFilter
    required_permissions = {
        **_view("assignments.view_usergroup"),
        "upsert": ("assignments.add_usergroup", "assignments.change_usergroup"),
    }

    @extend_schema(
        request=serializers.GroupsUpsertSerializer, responses=serializers.UpsertResultSerializer
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request):
        """Create or update up to 1,000 groups keyed by external_id; all or nothing."""
        form = serializers.GroupsUpsertSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = groups_upsert(items=form.validated_data["groups"])
        api_action_record(request=request, action="groups.upsert", detail=str(result))
        return Response(result.__dict__)


class MembershipViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Who is in which group; scripts add and remove members by external ids."""

    lookup_value_regex = ID_PATTERN
    queryset = Membership.objects.order_by("pk")
    serializer_class = serializers.MembershipSerializer
    filterset_class = filters.MembershipFilter
    required_permissions = {
        **_view("assignments.view_membership"),
        "change": ("assignments.add_membership", "assignments.delete_membership"),
    }

    @extend_schema(
        request=serializers.MembershipsChangeSerializer,
        responses=serializers.MembershipsChangedSerializer,
    )
    @action(detail=False, methods=["post"])
    def change(self, request):
        """Add and remove members of one group; removed members keep their licenses."""
        form = serializers.MembershipsChangeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        group, added, removed = memberships_change(**form.validated_data)
        api_action_record(
            request=request,
            action="memberships.change",
            target=group,
            detail=f"{added} added, {removed} removed",
        )
        return Response({"added": added, "removed": removed})


class LicenseViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Book licenses as the portal knows them; walk all of them with the cursor."""

    lookup_value_regex = ID_PATTERN
    queryset = License.objects.select_related("ebook").order_by("pk")
    serializer_class = serializers.LicenseSerializer
    filterset_class = filters.LicenseFilter
    required_permissions = _view("assignments.view_license")
    pagination_class = IdOrderCursorPagination

    def list(self, request, *args, **kwargs):
        # A million rows are walked through here: plain rows from .values(), no model instances
        # or serializer fields per row; the same JSON as LicenseSerializer (tested).
        rows = self.filter_queryset(self.get_queryset()).values(*LICENSE_VALUES)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([license_row(row) for row in page])


# Columns of a license row in the list, and the JSON names of the foreign keys among them.
LICENSE_VALUES = (
    "id",
    "token_id",
    "ebook_id",
    "ebook__adam_id",
    "person_id",
    "state",
    "kept",
    "error_number",
    "error_message",
    "assigned_at",
    "updated_at",
)


def license_row(row: dict) -> dict:
    """A .values() row in LicenseSerializer's shape."""
    return {
        "id": row["id"],
        "token": row["token_id"],
        "ebook": row["ebook_id"],
        "adam_id": row["ebook__adam_id"],
        "person": row["person_id"],
        "state": row["state"],
        "kept": row["kept"],
        "error_number": row["error_number"],
        "error_message": row["error_message"],
        "assigned_at": _iso(row["assigned_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def _iso(value):
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SyncRunViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Sync runs, newest first by id order of the cursor."""

    lookup_value_regex = ID_PATTERN
    queryset = SyncRun.objects.order_by("pk")
    serializer_class = serializers.SyncRunSerializer
    filterset_class = filters.SyncRunFilter
    required_permissions = _view("sync.view_syncrun")


class ReconcileRunViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """License reconcile runs (the push to Apple), in id order of the cursor."""

    lookup_value_regex = ID_PATTERN
    queryset = ReconcileRun.objects.order_by("pk")
    serializer_class = serializers.ReconcileRunSerializer
    filterset_class = filters.ReconcileRunFilter
    required_permissions = _view("sync.view_reconcilerun")


class InvitationViewSet(ReleasedResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Apple users this portal registered, with their invitation state (never the code)."""

    lookup_value_regex = ID_PATTERN
    queryset = AppleUser.objects.order_by("pk")
    serializer_class = serializers.InvitationSerializer
    filterset_class = filters.InvitationFilter
    required_permissions = {
        **_view("assignments.view_appleuser"),
        # As in the admin: whoever may change people may send their invitation again.
        "resend": ("assignments.view_appleuser", "assignments.change_person"),
    }

    @extend_schema(request=None, responses=serializers.InvitationResentSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        """Email the invitation again to a person who has not joined yet."""
        apple_user = self.get_object()
        if apple_user.status != AppleUser.Status.REGISTERED or not apple_user.invite_code:
            raise ApiProblem(
                "Nothing to send: this person has joined already, or Apple has not registered "
                "them yet.",
                code="not-invited",
                status_code=status.HTTP_409_CONFLICT,
            )
        try:
            sent = invitations_send(users=[apple_user], resend=True)
        except InvitationError as error:
            raise ApiProblem(
                f"No invitation sent: {error}", code="apple-unavailable", status_code=503
            ) from None
        api_action_record(request=request, action="invitation.resend", target=apple_user)
        return Response({"sent": sent})
