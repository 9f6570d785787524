"""The API's one error shape, its JSON renderer and the request-body reader.

Every error answer, from any endpoint, is::

    {"type": "validation_error", "detail": "one sentence", "errors": {"field.path": ["reason"]}}

``errors`` is present only for validation errors. No stack trace ever reaches a
client; a client's mistake is never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from ledger.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 5


class ApiError(exceptions.APIException):
    """A client-facing error with a machine-readable ``type``, raised by the HTTP
    layer only; the domain raises ``ledger.errors`` instead."""

    def __init__(
        self,
        status_code: int,
        error_type: str,
        detail: str,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error_type = error_type
        self.errors = errors
        self.headers = headers or {}


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=json_default)
        except TypeError:
            # orjson refuses integers beyond 64 bits, which jsonb can hold (a client
            # sent 1e30 as an integer literal): the standard library encodes them.
            return json.dumps(data, default=json_default, separators=(",", ":")).encode()


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that a ``?format=`` the endpoint does not offer is a
    400 naming the formats it does (DRF answers a bare 404, as if the path were wrong).
    """

    def filter_renderers(
        self, renderers: Iterable[BaseRenderer], format: str
    ) -> list[BaseRenderer]:
        renderers = list(renderers)
        offered = [renderer for renderer in renderers if renderer.format == format]
        if not offered:
            names = ", ".join(dict.fromkeys(str(renderer.format) for renderer in renderers))
            raise ApiError(
                400,
                "validation_error",
                "A query parameter is not valid.",
                {"format": [f"one of {names}"]},
            )
        return offered


def json_default(value: Any) -> Any:
    # Decimals travel as strings (money is never a float).
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def problem_body(
    error_type: str, detail: str, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": error_type, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def problem(
    status_code: int,
    error_type: str,
    detail: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """The error shape as a plain Django response (for non-DRF views and handlers)."""
    response = JsonResponse(problem_body(error_type, detail, errors), status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


_DRF_TYPES: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "invalid_json",
    exceptions.ValidationError: "validation_error",
}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"a.b.0": ["reason", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.update(_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return out
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {prefix or "__all__": [str(d) for d in detail]}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "__all__": [str(detail)]}


# Each domain error's status code and ``type``; the most specific class first.
_DOMAIN: tuple[tuple[type[DomainError], int, str], ...] = (
    (InvalidInput, status.HTTP_400_BAD_REQUEST, "validation_error"),
    (NotFound, status.HTTP_404_NOT_FOUND, "not_found"),
    (Forbidden, status.HTTP_403_FORBIDDEN, "permission_denied"),
    (Conflict, status.HTTP_409_CONFLICT, "conflict"),
)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler: every error in the one shape."""
    if isinstance(exc, DomainError):
        for cls, code, name in _DOMAIN:
            if isinstance(exc, cls):
                errors = exc.errors if isinstance(exc, InvalidInput | Conflict) else None
                body = problem_body(name, exc.detail, errors)
                if isinstance(exc, Conflict) and exc.existing is not None:
                    body["existing_id"] = exc.existing
                return Response(body, status=code)
        return None  # a domain error the API has no answer for is a bug: a 500
    if isinstance(exc, ApiError):
        return Response(
            problem_body(exc.error_type, str(exc.detail), exc.errors),
            status=exc.status_code,
            headers=exc.headers,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            problem_body("payload_too_large", _too_large_detail()),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (restart, failover, terminated backend). The
        # request's statement committed whole or not at all (if the connection
        # broke just after a commit, a retry answers those items "duplicate"),
        # so the client may retry the same request safely.
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(
            problem_body("service_unavailable", "The database is unavailable; retry shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DatabaseError):
        return None  # a bug: let Django log it and answer a generic 500
    if isinstance(exc, exceptions.APIException):
        error_type = next(
            (name for cls, name in _DRF_TYPES.items() if isinstance(exc, cls)), "error"
        )
        headers: dict[str, str] = {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait:
            headers["Retry-After"] = str(int(wait))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
            status_code: int = status.HTTP_401_UNAUTHORIZED
        else:
            status_code = exc.status_code
        if isinstance(exc.detail, dict | list):
            return Response(
                problem_body(error_type, "The request is not valid.", _flatten(exc.detail)),
                status=status_code,
                headers=headers,
            )
        return Response(
            problem_body(error_type, str(exc.detail)), status=status_code, headers=headers
        )
    return None


def _too_large_detail() -> str:
    return f"The request body is larger than {settings.AWU_MAX_BODY_BYTES} bytes."


def read_body(request: HttpRequest) -> bytes:
    """The raw body, or a 413 when it is over the limit.

    Reads the declared Content-Length against the cap first so an oversize body is
    refused without being read into memory.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.AWU_MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", _too_large_detail())
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise ApiError(413, "payload_too_large", _too_large_detail()) from exc


def require_json(request: HttpRequest) -> None:
    """415 unless the body is declared as JSON."""
    content_type = (request.content_type or "").lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the body as application/json, not {content_type or 'no content type'}.",
        )


def parse_json(body: bytes) -> Any:
    """orjson, the one JSON parser. Invalid JSON, invalid UTF-8, NaN and nesting
    deeper than the parser's limit are all a 400 with the parser's reason."""
    if not body:
        raise ApiError(400, "invalid_json", "The request body is empty.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from exc


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem(404, "not_found", "No such endpoint.")


def handler500(request: HttpRequest) -> JsonResponse:
    return problem(500, "server_error", "Something went wrong on our side; it has been logged.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem(400, "bad_request", "The request could not be understood.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem(403, "permission_denied", "You are not allowed to do that.")
