"""``GET /api/v1/audit-events``: the audit trail, for auditors (scope ``audit:read``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.apis import PAGE_PARAMETERS
from ledger.audit_reads import AuditFilters, audit_events_list
from ledger.http import OrjsonRenderer
from ledger.models import ApiKey, AuditEvent
from ledger.openapi import errors
from ledger.renderers import CsvRenderer


class AuditEventRecord(serializers.Serializer):  # documentation of the list output
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor_kind = serializers.ChoiceField(choices=AuditEvent.ActorKind.values)
    actor = serializers.CharField()
    actor_id = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField(allow_null=True)
    object_label = serializers.CharField()
    before = serializers.DictField(allow_null=True)
    after = serializers.DictField(allow_null=True)
    reason = serializers.CharField()


class AuditEventPage(serializers.Serializer):
    results = AuditEventRecord(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AuditEventsView(APIView):
    required_scopes = (ApiKey.Scope.AUDIT_READ,)
    renderer_classes = [OrjsonRenderer, CsvRenderer]
    every_team = "the audit trail records changes to every team's rules, keys and directory"

    @extend_schema(
        operation_id="audit_events_list",
        summary="List audit events (who changed what the numbers mean)",
        description=(
            "Needs scope `audit:read` (or `admin`). Newest first (`order=oldest`: in the "
            "order recorded); follow next_cursor. `from`/`to` filter the time of the change."
        ),
        parameters=[
            OpenApiParameter("object_type", str, description="e.g. price, definition, team."),
            OpenApiParameter("object_id", str, description="The object's id (with object_type)."),
            OpenApiParameter("action", str, description="e.g. price.added, api_key.revoked."),
            OpenApiParameter("actor", str, description="User name, API key name or operator."),
            OpenApiParameter("actor_kind", str, enum=AuditEvent.ActorKind.values),
            OpenApiParameter("from", str, description="Start: YYYY-MM-DD (inclusive) or RFC 3339."),
            OpenApiParameter(
                "to", str, description="End: YYYY-MM-DD (inclusive day) or RFC 3339 (exclusive)."
            ),
            OpenApiParameter(
                "format", str, enum=["json", "csv"], description="csv: the rows as CSV."
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: AuditEventPage, **errors(400, 401, 403)},
        tags=["audit"],
    )
    def get(self, request: Request) -> Response:
        page = audit_events_list(filters=AuditFilters.from_query(request.query_params))
        return Response(page.as_dict(request))
