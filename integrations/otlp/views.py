"""``POST /v1/logs`` and ``POST /v1/metrics``: OTLP/HTTP, protobuf or JSON, gzip or not.

The hot path: authenticate the bearer key (scope ``usage:write``), read the capped
body, decompress and decode it (``integrations.otlp.decoding``), one call into
``integrations.otlp.ingest``, answer the OTLP export response in the request's
encoding, with ``partial_success`` when some records were rejected.

Status codes follow the OTLP/HTTP specification: a request the server can never
accept (undecodable 400, too large 413, unsupported type or encoding 415, no or
wrong key 401/403) is not retried by exporters; an unavailable database is a 503
with ``Retry-After``, which they retry.

Error bodies are what the specification asks for: a ``google.rpc.Status`` in the
request's encoding (protobuf for a protobuf request, its JSON form otherwise), so an
exporter can log why it was refused. The JSON form also carries the API's error
fields (``type``, ``detail``, ``errors``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import orjson
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from google.rpc import code_pb2, status_pb2
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.otlp import decoding
from integrations.otlp.ingest import (
    ExportResult,
    otlp_logs_store,
    otlp_metrics_store,
    otlp_source_for_key,
)
from ledger import clock
from ledger.auth import Principal
from ledger.http import ApiError, read_body
from ledger.models import ApiKey
from ledger.openapi import errors

logger = logging.getLogger(__name__)

_REQUEST_BODY = {decoding.PROTOBUF: OpenApiTypes.BINARY, decoding.JSON: OpenApiTypes.OBJECT}
_DESCRIPTION = (
    "OTLP/HTTP export (https://opentelemetry.io/docs/specs/otlp/#otlphttp), "
    "`application/x-protobuf` or `application/json`, optionally `Content-Encoding: gzip` "
    "(at most 20 MiB decompressed). Authenticate with `Authorization: Bearer <key>` "
    "holding `usage:write` (Claude Code: `OTEL_EXPORTER_OTLP_HEADERS`). Answers the "
    "export response in the request's encoding; `partialSuccess` counts the records "
    "rejected and says why. A retried export stores nothing new. A refusal answers a "
    "`google.rpc.Status` in the request's encoding (its JSON form also carries the "
    "API's error fields). See docs/integrations/claude-code.md."
)


# HTTP status -> the google.rpc.Code an OTLP client expects in Status.code.
_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}
# Headers of an error answer that the Status body does not replace.
_KEPT_HEADERS = ("Retry-After", "WWW-Authenticate")


def status_response(response: Response, content_type: str | None) -> HttpResponse:
    """An error answer of the API as an OTLP ``google.rpc.Status`` answer."""
    problem = response.data if isinstance(response.data, dict) else {}
    message = str(problem.get("detail") or "request refused")
    code = _GRPC_CODES.get(response.status_code, code_pb2.INTERNAL)
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == decoding.PROTOBUF:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        answer = HttpResponse(body, status=response.status_code, content_type=decoding.PROTOBUF)
    else:
        body = orjson.dumps({"code": code, "message": message, "details": [], **problem})
        answer = HttpResponse(body, status=response.status_code, content_type=decoding.JSON)
    for header in _KEPT_HEADERS:
        if header in response:
            answer[header] = response[header]
    return answer


class _OtlpView(APIView):
    required_scopes: ClassVar[tuple[str, ...]] = (ApiKey.Scope.USAGE_WRITE,)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        content_type = self.request.META.get("CONTENT_TYPE")
        # DRF finalizes whatever the view returns; an HttpResponse passes through.
        return status_response(response, content_type)  # type: ignore[return-value]

    def export(
        self,
        request: Request,
        decode: Callable[[bytes, str | None], Any],
        store: Callable[..., ExportResult],
        encode: Callable[..., tuple[bytes, str]],
    ) -> HttpResponse:
        raw_request = request._request
        content_type = raw_request.headers.get("Content-Type", "")
        body = read_body(raw_request)
        try:
            data = decoding.decompress(body, raw_request.headers.get("Content-Encoding"))
            message = decode(data, content_type)
        except decoding.OtlpRequestError as exc:
            raise ApiError(exc.http_status, _error_type(exc), str(exc)) from exc
        principal = request.user
        assert isinstance(principal, Principal)  # HasScope let only a key through
        source = otlp_source_for_key(key_id=principal.key_id, key_name=principal.name)
        result = store(message=message, source=source, now=clock.now())
        if result.rejected:
            logger.info("OTLP export to %s: %s", source, result.error_message)
        payload, answer_type = encode(
            content_type, rejected=result.rejected, error_message=result.error_message
        )
        return HttpResponse(payload, status=200, content_type=answer_type)


def _error_type(exc: decoding.OtlpRequestError) -> str:
    return {413: "payload_too_large", 415: "unsupported_media_type"}.get(
        exc.http_status, "invalid_otlp"
    )


class OtlpLogsView(_OtlpView):
    """Claude Code's ``claude_code.api_request`` events (and any OTLP log emitter)."""

    @extend_schema(
        operation_id="otlp_logs_export",
        summary="Export OpenTelemetry logs (OTLP/HTTP)",
        description=_DESCRIPTION,
        request=_REQUEST_BODY,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="ExportLogsServiceResponse."),
            **errors(400, 401, 403, 413, 415, 503),
        },
        tags=["otlp"],
    )
    def post(self, request: Request) -> HttpResponse:
        return self.export(
            request, decoding.decode_logs, otlp_logs_store, decoding.encode_logs_response
        )


class OtlpMetricsView(_OtlpView):
    """Claude Code's token, cost and activity counters (delta or cumulative)."""

    @extend_schema(
        operation_id="otlp_metrics_export",
        summary="Export OpenTelemetry metrics (OTLP/HTTP)",
        description=_DESCRIPTION,
        request=_REQUEST_BODY,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="ExportMetricsServiceResponse."),
            **errors(400, 401, 403, 413, 415, 503),
        },
        tags=["otlp"],
    )
    def post(self, request: Request) -> HttpResponse:
        return self.export(
            request, decoding.decode_metrics, otlp_metrics_store, decoding.encode_metrics_response
        )
