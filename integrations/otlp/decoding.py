"""OTLP/HTTP request decoding: the transport half of ``POST /v1/logs`` and ``/v1/metrics``.

This module knows the OpenTelemetry protocol and nothing about Claude Code or the
ledger. The view calls it in this order, then hands the decoded message to the
mapping in ``integrations.otlp.logs`` / ``integrations.otlp.metrics``::

    raw = decompress(request.body, request.headers.get("Content-Encoding"))
    message = decode_logs(raw, request.headers.get("Content-Type", ""))
    result = usage_from_logs(message, received_at=now)          # otlp_logs
    body, content_type = encode_logs_response(
        request.headers.get("Content-Type", ""),
        rejected=result.rejected, error_message=result.error_message,
    )

Every failure raises ``OtlpRequestError`` whose ``http_status`` is what the OTLP
specification asks for (400 for data that cannot be decoded, 413 past the size
limit, 415 for an unknown content type or encoding). The client must not retry any
of them, so the view should answer with that status and never a 5xx.

Encodings (OTLP specification, "OTLP/HTTP", "JSON Protobuf Encoding"):

* ``application/x-protobuf``: binary proto3 of ``ExportLogsServiceRequest`` /
  ``ExportMetricsServiceRequest``.
* ``application/json``: the proto3 JSON mapping with OTLP's deviations, handled here:
  ``traceId`` / ``spanId`` are case-insensitive hex (not base64); enums are integers;
  keys are lowerCamelCase; 64-bit integers arrive as decimal strings or numbers;
  unknown fields are ignored.
* ``Content-Encoding: gzip`` is accepted on both; the decompressed size is bounded
  (20 MiB by default, the specification's recommendation).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from integrations.webhooks.base import Record

ExportLogsServiceRequest = logs_service_pb2.ExportLogsServiceRequest
ExportMetricsServiceRequest = metrics_service_pb2.ExportMetricsServiceRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_BODY_BYTES = 20 * 1024 * 1024

# JSON keys whose values are bytes in the proto but hex (not base64) in OTLP/JSON.
_HEX_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})

M = TypeVar("M", bound=Message)


@dataclass
class MappedExport:
    """What one decoded export mapped to: records, and what was rejected or ignored.

    Subclasses name what they count in ``UNIT`` (``"log record(s)"``), the word the
    ``partial_success`` message uses. At most ``MAX_REASONS`` distinct reasons are
    kept, so one bad batch cannot make the answer unbounded.
    """

    UNIT: ClassVar[str] = "item(s)"
    MAX_REASONS: ClassVar[int] = 3

    usage: list[Record] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)
    rejected: int = 0
    ignored: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str | None:
        """A short English summary for ``partial_success``; None when nothing was rejected."""
        if not self.rejected:
            return None
        return f"{self.rejected} {self.UNIT} rejected: " + "; ".join(self.reasons)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if reason not in self.reasons and len(self.reasons) < self.MAX_REASONS:
            self.reasons.append(reason)


class OtlpRequestError(Exception):
    """The export request cannot be accepted; ``http_status`` says how to answer."""

    http_status = 400


class UnsupportedMediaType(OtlpRequestError):
    http_status = 415


class PayloadTooLarge(OtlpRequestError):
    http_status = 413


# --- transport ---------------------------------------------------------------------


def decompress(
    body: bytes, content_encoding: str | None, *, max_bytes: int = MAX_BODY_BYTES
) -> bytes:
    """Undo ``Content-Encoding`` (``gzip`` or none) and enforce the size limit.

    The limit applies after decompression, so a small gzip bomb is refused with
    ``PayloadTooLarge`` instead of exhausting memory.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding {content_encoding!r} is not supported")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # One byte past the limit is enough to know the limit was crossed.
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise OtlpRequestError(f"body is not valid gzip: {exc}") from exc
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"decompressed body exceeds {max_bytes} bytes")
    if not inflater.eof:
        raise OtlpRequestError("body is truncated gzip")
    return data


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; raises 415 otherwise."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported; use {PROTOBUF} or {JSON}"
        )
    return kind


def decode_logs(body: bytes, content_type: str | None) -> logs_service_pb2.ExportLogsServiceRequest:
    """Decode an (already decompressed) ``/v1/logs`` body; raises OtlpRequestError."""
    return _decode(body, content_type, ExportLogsServiceRequest())


def decode_metrics(
    body: bytes, content_type: str | None
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """Decode an (already decompressed) ``/v1/metrics`` body; raises OtlpRequestError."""
    return _decode(body, content_type, ExportMetricsServiceRequest())


def _decode(body: bytes, content_type: str | None, message: M) -> M:
    kind = media_type(content_type)
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpRequestError(f"body is not a valid protobuf export request: {exc}") from exc
        return message
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpRequestError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise OtlpRequestError("body must be a JSON object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpRequestError(f"body is not a valid OTLP/JSON export request: {exc}") from exc
    return message


def _hex_ids_to_base64(node: Any) -> Any:
    """Rewrite OTLP/JSON hex ids into the base64 the generic proto3 JSON parser expects.

    Only object *keys* named traceId/spanId are touched; attribute keys are values
    (``{"key": "traceId", ...}``), so user attributes are never rewritten.
    """
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in _HEX_ID_KEYS and isinstance(value, str):
            try:
                raw = bytes.fromhex(value)
            except ValueError as exc:
                raise OtlpRequestError(f"{key} {value!r} is not hex") from exc
            converted[key] = base64.b64encode(raw).decode()
        else:
            converted[key] = _hex_ids_to_base64(value)
    return converted


def encode_logs_response(
    content_type: str | None, *, rejected: int = 0, error_message: str | None = None
) -> tuple[bytes, str]:
    """The ``ExportLogsServiceResponse`` body in the request's encoding, and its type.

    ``partial_success`` is set only when something was rejected or there is a
    message to pass on, as the specification requires.
    """
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected or error_message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = error_message or ""
    return _encode(response, content_type)


def encode_metrics_response(
    content_type: str | None, *, rejected: int = 0, error_message: str | None = None
) -> tuple[bytes, str]:
    """The ``ExportMetricsServiceResponse`` body in the request's encoding, and its type."""
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if rejected or error_message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = error_message or ""
    return _encode(response, content_type)


def _encode(message: Message, content_type: str | None) -> tuple[bytes, str]:
    try:
        kind = media_type(content_type)
    except UnsupportedMediaType:
        kind = PROTOBUF
    if kind == PROTOBUF:
        return message.SerializeToString(), PROTOBUF
    return json_format.MessageToJson(message, indent=None).encode(), JSON


# --- attribute helpers shared by the Claude Code mappings ---------------------------


AttributeValue = str | bool | int | float | bytes | list[Any] | dict[str, Any] | None


def any_value(value: common_pb2.AnyValue) -> AttributeValue:
    """An OTLP ``AnyValue`` as plain Python (a double stays float; callers decide)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    result: AttributeValue = getattr(value, kind)
    return result


def attributes(pairs: Sequence[common_pb2.KeyValue]) -> dict[str, AttributeValue]:
    """OTLP ``KeyValue`` pairs as a dict; on a repeated key the last one wins."""
    return {pair.key: any_value(pair.value) for pair in pairs}


def nanos_to_datetime(nanos: int) -> datetime:
    """Unix nanoseconds -> aware UTC datetime (microsecond precision)."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)


def rfc3339(moment: datetime) -> str:
    """``2026-11-01T12:00:03.250000Z``: UTC, ``Z``, microseconds only when non-zero."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def to_decimal(value: AttributeValue) -> Decimal | None:
    """A number attribute as Decimal; a double goes through its shortest repr.

    ``Decimal(0.1)`` would carry the binary expansion; ``Decimal(repr(0.1))`` is the
    value the emitter wrote. Returns None for a missing or non-numeric value.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            return None
        return number if number.is_finite() else None
    return None


def to_count(value: AttributeValue) -> int | None:
    """A token count: a non-negative integer, however the emitter typed it, else None."""
    number = to_decimal(value)
    if number is None or number < 0 or number != number.to_integral_value():
        return None
    return int(number)


def string_attribute(values: Mapping[str, AttributeValue], key: str) -> str | None:
    """A non-empty string attribute (numbers are rendered), else None."""
    value = values.get(key)
    if value is None or isinstance(value, bool | list | dict | bytes):
        return None
    text = str(value).strip()
    return text or None
