"""OpenAPI document: every operation also documents the problem responses it can give."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from api.errors import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem document."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField(), required=False)


class ProblemAutoSchema(AutoSchema):
    problem_codes_read = ("400", "401", "403", "404", "429")
    problem_codes_write = ("400", "401", "403", "404", "409", "415", "422", "429", "503")

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = self.problem_codes_read if self.method == "GET" else self.problem_codes_write
        for code in codes:
            responses.setdefault(
                code,
                self._get_response_for_code(
                    ProblemSerializer, code, media_types=[PROBLEM_CONTENT_TYPE], direction=direction
                ),
            )
        return responses
