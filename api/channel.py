"""The device-management channel: devices, the installs to send, what devices report back."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.audit import api_action_record
from api.errors import ApiProblem
from api.pagination import ReleasedResponseMixin
from api.scopes import DEVICE_CHANNEL_PERMISSION
from api.selectors import install_requests_pending
from api.serializers import UpsertResultSerializer
from api.services import (
    APPLE_MEDIA_STATES,
    APPLE_REJECTION_REASONS,
    devices_upsert,
    managed_media_report,
)
from assignments.models import Device, InstallRequest

_CHANNEL = (DEVICE_CHANNEL_PERMISSION,)


class DeviceItemSerializer(serializers.Serializer):
    serial_number = serializers.RegexField(r"^[A-Za-z0-9-]{1,64}$", max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    os_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    owner_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    owner_external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    has_books_app = serializers.BooleanField(
        required=False, help_text="Whether Apple's Books app is installed."
    )

    def validate(self, attrs):
        if attrs.get("owner_email") and attrs.get("owner_external_id"):
            raise serializers.ValidationError(
                "Give the owner by owner_email or by owner_external_id, not both."
            )
        return attrs


class DevicesUpsertSerializer(serializers.Serializer):
    devices = DeviceItemSerializer(many=True, allow_empty=False, max_length=1000)


class InstallRequestSerializer(serializers.ModelSerializer):
    request_id = serializers.IntegerField(source="pk", read_only=True)
    adam_id = serializers.CharField(source="ebook.adam_id", read_only=True)
    pricing_param = serializers.CharField(source="ebook.pricing_param", read_only=True)
    serial_number = serializers.CharField(source="device.serial_number", read_only=True)
    person_email = serializers.CharField(source="person.email", read_only=True, default=None)
    person_external_id = serializers.CharField(
        source="person.external_id", read_only=True, default=None
    )

    class Meta:
        model = InstallRequest
        fields = (
            "request_id",
            "adam_id",
            "pricing_param",
            "serial_number",
            "person",
            "person_email",
            "person_external_id",
            "state",
            "created_at",
        )
        read_only_fields = fields


class MediaItemSerializer(serializers.Serializer):
    adam_id = serializers.RegexField(
        r"^[0-9]{1,20}$", help_text="The book's iTunesStoreID (Apple's adamId)."
    )
    state = serializers.ChoiceField(choices=list(APPLE_MEDIA_STATES))
    rejection_reason = serializers.ChoiceField(
        choices=list(APPLE_REJECTION_REASONS), required=False, allow_blank=True
    )

    def validate(self, attrs):
        if attrs.get("rejection_reason") and attrs["state"] != "Failed":
            raise serializers.ValidationError("rejection_reason goes with state “Failed” only.")
        return attrs


class ManagedMediaSerializer(serializers.Serializer):
    books = MediaItemSerializer(many=True, max_length=5000)

    def validate_books(self, books):
        seen = set()
        for book in books:
            if book["adam_id"] in seen:
                raise serializers.ValidationError(f"adam_id {book['adam_id']} is listed twice.")
            seen.add(book["adam_id"])
        return books


class MediaReportSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    unknown_books = serializers.ListField(child=serializers.CharField())
    not_requested = serializers.ListField(child=serializers.CharField())


class DeviceChannelViewSet(ReleasedResponseMixin, viewsets.GenericViewSet):
    """For a device-channel key: the MDM server's side of install status."""

    queryset = InstallRequest.objects.none()
    serializer_class = InstallRequestSerializer
    filter_backends = ()
    required_permissions = {
        "devices": _CHANNEL,
        "install_requests": _CHANNEL,
        "managed_media": _CHANNEL,
    }

    @extend_schema(request=DevicesUpsertSerializer, responses=UpsertResultSerializer)
    @action(detail=False, methods=["post"])
    def devices(self, request):
        """Create or update devices by serial number (up to 1,000); all or nothing."""
        form = DevicesUpsertSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = devices_upsert(items=form.validated_data["devices"])
        api_action_record(request=request, action="devices.upsert", detail=str(result))
        return Response(result.__dict__)

    @extend_schema(
        parameters=[
            OpenApiParameter("serial_number", str, description="Only this device's installs.")
        ],
        responses=InstallRequestSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="install-requests")
    def install_requests(self, request):
        """Installs to send (InstallMedia): Required books whose license the person now holds."""
        device = None
        if serial := request.query_params.get("serial_number"):
            device = Device.objects.filter(serial_number=serial.upper()).first()
            if device is None:
                raise ApiProblem(
                    f"Unknown device {serial}: upsert it first.",
                    code="unknown-device",
                    status_code=404,
                )
        page = self.paginate_queryset(install_requests_pending(device=device))
        return self.get_paginated_response(InstallRequestSerializer(page, many=True).data)

    @extend_schema(request=ManagedMediaSerializer, responses=MediaReportSerializer)
    @action(
        detail=False,
        methods=["post"],
        url_path=r"devices/(?P<serial_number>[A-Za-z0-9-]{1,64})/managed-media",
    )
    def managed_media(self, request, serial_number: str):
        """A device's ManagedMediaList: its books' states update the install requests."""
        form = ManagedMediaSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        device = Device.objects.filter(serial_number=serial_number.upper()).first()
        if device is None:
            raise ApiProblem(
                f"Unknown device {serial_number}: upsert it first; nothing was changed.",
                code="unknown-device",
                status_code=404,
            )
        report = managed_media_report(device=device, books=form.validated_data["books"])
        api_action_record(
            request=request,
            action="device.managed_media",
            target=device,
            detail=f"{report.updated} updated",
        )
        return Response(report.__dict__)
