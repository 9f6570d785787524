"""``/api/v1/service-names``: how each source names services that deploys name otherwise.

Thin: validate, one call into :mod:`ledger.service_names`, answer. Reading needs
``reports:read``; mapping a name changes how incidents are attributed, so it
needs ``admin``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.http import ApiError, parse_json, read_body, require_json
from ledger.models import ApiKey, ServiceName, Source
from ledger.openapi import errors
from ledger.service_names import service_name_create


class ServiceNameIn(serializers.Serializer):
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=141, help_text="The source as `kind:slug`, e.g. `pagerduty:ops`."
    )
    external_name = serializers.CharField(
        max_length=200, help_text="The service id or name as that source sends it (`PF9KMXH`)."
    )
    service = serializers.CharField(
        max_length=200, help_text="The service as deploys name it (`acme/api`)."
    )

    def validate_source(self, value: str) -> Source:
        kind, _, slug = value.partition(":")
        source = Source.objects.filter(kind=kind, slug=slug).first() if slug else None
        if source is None:
            raise serializers.ValidationError(f"no source {value!r} (give it as kind:slug)")
        return source


class ServiceNameOut(serializers.Serializer):
    source = serializers.CharField(help_text="`kind:slug`")  # type: ignore[assignment]
    external_name = serializers.CharField()
    service = serializers.CharField()
    created_at = serializers.DateTimeField()


class ServiceNameList(serializers.Serializer):
    results = ServiceNameOut(many=True)


def _out(mapping: ServiceName) -> dict[str, Any]:
    return {
        "source": str(mapping.source),
        "external_name": mapping.external_name,
        "service": mapping.service,
        "created_at": mapping.created_at,
    }


class ServiceNamesView(APIView):
    every_team = "service name mappings belong to sources, not teams"

    def required_scopes_for(self, method: str) -> tuple[str, ...]:
        return (ApiKey.Scope.REPORTS_READ,) if method == "GET" else (ApiKey.Scope.ADMIN,)

    @extend_schema(
        summary="List the service name mappings",
        description="Needs scope `reports:read`. Every mapping, by source and name.",
        responses={200: ServiceNameList, **errors(401, 403)},
        tags=["directory"],
    )
    def get(self, request: Request) -> Response:
        rows = ServiceName.objects.select_related("source").order_by(
            "source__kind", "source__slug", "external_name"
        )
        return Response({"results": [_out(m) for m in rows]})

    @extend_schema(
        summary="Map a source's service name to the deploys' name",
        description=(
            "Needs scope `admin`. An incident whose source sends `external_name` (as its "
            "`service_id` or `service`) is on `service`, so deploys of `service` can be "
            "blamed for it. Mapping the same name again changes it. That source's deploys "
            "and incidents naming it are scored again."
        ),
        request=ServiceNameIn,
        responses={
            201: OpenApiResponse(ServiceNameOut, description="Mapped."),
            200: OpenApiResponse(ServiceNameOut, description="The mapping was changed."),
            **errors(400, 401, 403, 415),
        },
        tags=["directory"],
    )
    def post(self, request: Request) -> Response:
        body = read_body(request._request)
        require_json(request._request)
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise ApiError(400, "validation_error", "Send one JSON object.")
        given = ServiceNameIn(data=payload)
        if not given.is_valid():
            raise ApiError(
                400,
                "validation_error",
                "The mapping is not valid.",
                {k: [str(m) for m in v] for k, v in given.errors.items()},
            )
        data = given.validated_data
        existed = ServiceName.objects.filter(
            source=data["source"], external_name=data["external_name"]
        ).exists()
        mapping = service_name_create(
            source=data["source"], external_name=data["external_name"], service=data["service"]
        )
        return Response(_out(mapping), status=200 if existed else 201)
