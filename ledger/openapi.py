"""OpenAPI glue: the pydantic models become schema components, plus shared responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ledger import schemas

REF = "#/components/schemas/{model}"

_MODELS: list[type[BaseModel]] = [
    schemas.WorkEventIn,
    schemas.TokenUsageIn,
    schemas.IngestResponse,
    schemas.Error,
]


def _components() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (model, "validation" if model.__name__.endswith("In") else "serialization")
            for model in _MODELS
        ],
        ref_template=REF,
    )
    return dict(top.get("$defs", {}))


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def one_or_many(name: str, max_items: int = 1000) -> dict[str, Any]:
    return {
        "oneOf": [
            ref(name),
            {"type": "array", "items": ref(name), "minItems": 1, "maxItems": max_items},
        ]
    }


ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, or the single item is invalid (see errors).",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key lacks the scope this endpoint needs.",
    404: "Not found.",
    409: "Conflict: the same source and id exist with a different body.",
    413: "The body, or the batch, is too large.",
    415: "The body is not application/json.",
    503: "The database or broker is unavailable; retry after Retry-After seconds.",
}


def errors(*codes: int) -> dict[int, Any]:
    """Raw OpenAPI responses in the error shape, for extend_schema(responses=...)."""
    from drf_spectacular.utils import OpenApiResponse

    return {
        code: OpenApiResponse(response=ref("Error"), description=ERROR_DESCRIPTIONS[code])
        for code in codes
    }


def postprocess(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the pydantic components."""
    schemas_ = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _components().items():
        schemas_.setdefault(name, schema)
    return result


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents ledger.auth.ApiKeyAuthentication as HTTP bearer auth."""

    target_class = "ledger.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An AWU Ledger API key (awu_...), scoped: events:write, "
            "usage:write, reports:read, audit:read or admin.",
        }


class SessionReadScheme(OpenApiAuthenticationExtension):
    """Documents ledger.auth.SessionReadAuthentication: the dashboard's session cookie."""

    target_class = "ledger.auth.SessionReadAuthentication"
    name = "DashboardSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The session of a person signed in to the dashboard: reads "
            "(GET) with the scopes of their role (reports:read).",
        }
