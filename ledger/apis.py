"""The ledger's HTTP API: ingest and read work events and token usage.

Views are thin: authenticate, read the body, one call into ledger.ingest or a
selector, answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger import clock, ingest, query, selectors
from ledger.http import ApiError, parse_json, read_body, require_json
from ledger.models import ApiKey
from ledger.openapi import errors, one_or_many, ref

Ingest = Callable[..., list[ingest.ItemResult]]


def _answer(payload: Any, run: Ingest) -> Response:
    """Run an ingest over one object or a batch and pick the status code.

    One object: 201 created, 200 duplicate, 409 conflict, 400 invalid. A batch:
    201 when every item was created, else 200 with the per-item results.
    """
    single = isinstance(payload, dict)
    if single:
        items: Sequence[Any] = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise ApiError(400, "validation_error", "Send one JSON object or a JSON array of objects.")
    if not items:
        raise ApiError(400, "validation_error", "The batch is empty.")
    if len(items) > settings.AWU_MAX_BATCH_ITEMS:
        raise ApiError(
            413,
            "payload_too_large",
            f"A batch holds at most {settings.AWU_MAX_BATCH_ITEMS} items; this one has {len(items)}."
            " Split it.",
        )
    results = run(items=items, now=clock.now())
    counts = Counter(r.status for r in results)
    body = {
        "results": [r.as_dict() for r in results],
        "counts": {s: counts.get(s, 0) for s in ("created", "duplicate", "conflict", "invalid")},
    }
    if single:
        only = results[0]
        if only.status == "invalid":
            raise ApiError(400, "validation_error", "The record is not valid.", only.errors)
        if only.status == "conflict":
            raise ApiError(409, "conflict", only.detail or "Conflicting record.")
        return Response(body, status=201 if only.status == "created" else 200)
    return Response(body, status=201 if counts["created"] == len(results) else 200)


_INGEST_RESPONSES: dict[int, Any] = {
    201: OpenApiResponse(response=ref("IngestResponse"), description="Every item was created."),
    200: OpenApiResponse(
        response=ref("IngestResponse"),
        description="Per-item results: some items were duplicates, conflicts or invalid. "
        "Valid items were stored.",
    ),
    **errors(400, 401, 403, 409, 413, 415, 503),
}


class _IngestView(APIView):
    write_scopes: ClassVar[tuple[str, ...]] = ()
    run: ClassVar[Ingest]
    list_selector: ClassVar[Callable[..., selectors.Page]]

    def required_scopes_for(self, method: str) -> tuple[str, ...]:
        # Reading the ledger needs reports:read; writing needs the view's write scope.
        return (ApiKey.Scope.REPORTS_READ,) if method == "GET" else self.write_scopes

    def post(self, request: Request) -> Response:
        body = read_body(request._request)
        require_json(request._request)
        return _answer(parse_json(body), type(self).run)

    def get(self, request: Request) -> Response:
        filters = replace(
            selectors.ListFilters.from_query(request.query_params),
            teams=getattr(request.user, "teams", frozenset()),
        )
        page = type(self).list_selector(filters=filters)
        return Response(page.as_dict(request))


# Every listing by id pages the same way (the work units too).
PAGE_PARAMETERS = [
    OpenApiParameter(
        "order",
        str,
        enum=list(query.ORDERS),
        default="newest",
        description="newest: the latest first (default); oldest: the earliest first, in the "
        "order stored. A cursor keeps the order it was made for.",
    ),
    OpenApiParameter(
        "cursor", str, description="The next_cursor of the previous page (it carries the order)."
    ),
    OpenApiParameter("limit", int, description="Page size, 1-500 (default 100)."),
]
_LIST_DESCRIPTION = (
    "Needs scope `reports:read`. Newest first (`order=oldest`: in ingest order); "
    "follow next_cursor for the next page."
)
_LIST_PARAMETERS = [
    OpenApiParameter("source", str, description="Source slug."),
    OpenApiParameter("actor", str, description="Actor exactly as sent."),
    OpenApiParameter("person", int, description="Person id (through their identities)."),
    OpenApiParameter("team", str, description="Team slug (named on the record, or by membership)."),
    OpenApiParameter("from", str, description="Start: YYYY-MM-DD (inclusive) or RFC 3339."),
    OpenApiParameter(
        "to", str, description="End: YYYY-MM-DD (inclusive day) or RFC 3339 (exclusive)."
    ),
    OpenApiParameter(
        "ref", str, description="A ref as kind:value, e.g. commit:9f1c2e7.", many=True
    ),
    *PAGE_PARAMETERS,
]


class WorkEventRecord(serializers.Serializer):  # documentation of the list output
    sequence = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    id = serializers.CharField()
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    person = serializers.IntegerField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    subject = serializers.CharField(allow_null=True)
    refs = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    ai = serializers.DictField(allow_null=True)
    attributes = serializers.DictField()


class WorkEventPage(serializers.Serializer):
    results = WorkEventRecord(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class TokenUsageRecord(serializers.Serializer):
    sequence = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    id = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    period_end = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    person = serializers.IntegerField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    provider = serializers.CharField()
    model = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_creation_input_tokens = serializers.IntegerField()
    cache_creation_1h_input_tokens = serializers.IntegerField()
    cache_read_input_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=20, decimal_places=9, allow_null=True)
    adjusted_cost_usd = serializers.DecimalField(max_digits=20, decimal_places=9, allow_null=True)
    cost_source = serializers.ChoiceField(choices=["reported", "computed", "unpriced"])
    price_id = serializers.IntegerField(allow_null=True)
    refs = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    attributes = serializers.DictField()


class TokenUsagePage(serializers.Serializer):
    results = TokenUsageRecord(many=True)
    next_cursor = serializers.CharField(allow_null=True)


_ERRORS_HINT = OpenApiExample(
    "Batch with one invalid item",
    value=[
        {
            "source": "deploy-bot",
            "id": "deploy-4711-success",
            "type": "deploy.succeeded",
            "occurred_at": "2026-11-01T12:00:00Z",
            "refs": {"commit": ["9f1c2e7"], "deploy": ["4711"]},
            "attributes": {"environment": "production"},
        },
        {"source": "deploy-bot", "id": "deploy-4712", "type": "deploy.succeeded"},
    ],
    request_only=True,
)


class EventsView(_IngestView):
    write_scopes = (ApiKey.Scope.EVENTS_WRITE,)
    run = staticmethod(ingest.events_ingest)
    list_selector = staticmethod(selectors.events_list)

    @extend_schema(
        operation_id="events_ingest",
        summary="Post work events (one object or a batch of up to 1,000)",
        description=(
            "Needs scope `events:write`. Each item is answered in request order: `created`, "
            "`duplicate` (same source + id + body: stored once), `conflict` (same key, "
            "different body: not stored) or `invalid` (with field errors). Valid items are "
            "stored even when others are not. A single object that is invalid is a 400, a "
            "conflicting one a 409."
        ),
        request={"application/json": one_or_many("WorkEventIn")},
        responses=_INGEST_RESPONSES,
        examples=[_ERRORS_HINT],
        tags=["ingest"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    @extend_schema(
        operation_id="events_list",
        summary="List work events",
        description=_LIST_DESCRIPTION,
        parameters=[OpenApiParameter("type", str, description="Event type."), *_LIST_PARAMETERS],
        responses={200: WorkEventPage, **errors(400, 401, 403)},
        tags=["ledger"],
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class TokenUsageView(_IngestView):
    write_scopes = (ApiKey.Scope.USAGE_WRITE,)
    run = staticmethod(ingest.usage_ingest)
    list_selector = staticmethod(selectors.usage_list)

    @extend_schema(
        operation_id="token_usage_ingest",
        summary="Post token usage (one object or a batch of up to 1,000)",
        description=(
            "Needs scope `usage:write`. Without `cost_usd` the record is priced from the "
            "price book entry in force at its time (`cost_source: computed`); a reported "
            "cost always wins (`reported`); with neither it is stored `unpriced`."
        ),
        request={"application/json": one_or_many("TokenUsageIn")},
        responses=_INGEST_RESPONSES,
        tags=["ingest"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    @extend_schema(
        operation_id="token_usage_list",
        summary="List token usage",
        description=_LIST_DESCRIPTION,
        parameters=[
            OpenApiParameter("provider", str),
            OpenApiParameter("model", str),
            OpenApiParameter("cost_source", str, enum=["reported", "computed", "unpriced"]),
            *_LIST_PARAMETERS,
        ],
        responses={200: TokenUsagePage, **errors(400, 401, 403)},
        tags=["ledger"],
    )
    def get(self, request: Request) -> Response:
        return super().get(request)
