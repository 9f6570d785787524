"""The OpenAPI document, the documentation pages and the health probes: open, no data."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db

INGEST_PATHS = ["/api/v1/events", "/api/v1/token-usage"]


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:500]
    document = response.json() if "json" in response["Content-Type"] else None
    if document is None:
        document = yaml.safe_load(response.content)
    assert isinstance(document, dict)
    return document


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref (#/components/...) to the node it names."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def refs_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= refs_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(refs_in(v) for v in node)) if node else set()
    return set()


def test_schema_answers_without_a_key(client: Client) -> None:
    assert client.get("/api/schema/").status_code == 200


def test_schema_is_openapi_3(schema: dict[str, Any]) -> None:
    assert str(schema["openapi"]).startswith("3.")
    assert schema["info"]["title"]


def test_schema_validates_against_the_openapi_meta_schema(schema: dict[str, Any]) -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    version = str(schema["openapi"])
    meta = definitions.OPENAPI_31 if version.startswith("3.1") else definitions.OPENAPI_30

    jsonschema.validators.validator_for(meta)(meta).validate(schema)


def test_every_schema_reference_resolves(schema: dict[str, Any]) -> None:
    for reference in refs_in(schema):
        assert reference.startswith("#/"), reference
        resolve(schema, {"$ref": reference})


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_ingest_paths_document_post_and_get(schema: dict[str, Any], path: str) -> None:
    assert {"post", "get"} <= set(schema["paths"][path])


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_ingest_post_documents_a_json_request_body(schema: dict[str, Any], path: str) -> None:
    body = schema["paths"][path]["post"]["requestBody"]

    media = body["content"]["application/json"]["schema"]
    assert len(media["oneOf"]) == 2  # one record, or a batch
    batch = next(option for option in media["oneOf"] if option.get("type") == "array")
    assert batch["maxItems"] == 1000


@pytest.mark.parametrize(
    ("path", "component", "required"),
    [
        ("/api/v1/events", "WorkEventIn", {"source", "id", "type", "occurred_at"}),
        ("/api/v1/token-usage", "TokenUsageIn", {"source", "id", "provider", "model"}),
    ],
)
def test_ingest_request_schema_names_the_required_fields(
    schema: dict[str, Any], path: str, component: str, required: set[str]
) -> None:
    record = resolve(schema, {"$ref": f"#/components/schemas/{component}"})

    assert required <= set(record["required"])


@pytest.mark.parametrize("path", INGEST_PATHS)
@pytest.mark.parametrize("status", ["400", "401", "403", "409", "413", "415"])
def test_ingest_post_documents_errors_in_the_error_shape(
    schema: dict[str, Any], path: str, status: str
) -> None:
    response = schema["paths"][path]["post"]["responses"][status]

    error = resolve(schema, response["content"]["application/json"]["schema"])
    assert {"type", "detail"} <= set(error["required"])
    assert "errors" in error["properties"]


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_ingest_post_documents_per_item_results(schema: dict[str, Any], path: str) -> None:
    for status in ("200", "201"):
        response = schema["paths"][path]["post"]["responses"][status]
        result = resolve(schema, response["content"]["application/json"]["schema"])
        assert {"results", "counts"} <= set(result["properties"])


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_listing_documents_filters_and_errors(schema: dict[str, Any], path: str) -> None:
    operation = schema["paths"][path]["get"]

    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"from", "to", "ref", "cursor", "limit", "actor", "team", "source"} <= names
    assert {"200", "400", "401", "403"} <= set(operation["responses"])


def test_schema_declares_bearer_key_security(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]

    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_documentation_pages_answer_without_a_key(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_healthz_answers_without_a_key(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_database_and_broker_answer(client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200, response.content[:500]
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_schema_reveals_no_ledger_data(client: Client, api: Any) -> None:
    api("events:write").post(
        "/api/v1/events",
        {
            "source": "secret-bot",
            "id": "confidential-4711",
            "type": "x.secret",
            "occurred_at": "2026-11-01T12:00:00Z",
        },
    )

    body = client.get("/api/schema/").content

    assert b"confidential-4711" not in body
