"""The SCIM error body (RFC 7644 3.12) and the exception that carries it."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse

CONTENT_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A client-facing SCIM error: HTTP status, optional ``scimType`` and a sentence."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def scim_response(
    body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(body) if body is not None else b"",
        status=status,
        content_type=CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: ScimError) -> HttpResponse:
    body: dict[str, Any] = {
        "schemas": [ERROR_SCHEMA],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type:
        body["scimType"] = error.scim_type
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if error.status == 401 else None
    return scim_response(body, error.status, headers)
