"""Bad input to the API that the endpoint tests do not already cover.

tests/ledger/test_ingest_errors.py and test_ingest_properties.py cover the events
endpoint's bodies (malformed JSON, invalid UTF-8, NaN, nesting, size, batch count,
content types, garbage and mutated records) and tests/integrations/otlp/test_endpoint.py
the basic OTLP refusals on /v1/logs; tests/test_api_contract.py drives every
operation with schema-shaped requests. Added here: the same refusals on the other
POST endpoints (token usage, definition preview, /v1/metrics), odd content types,
a batch count far over the limit, mutated real OTLP exports, and query parameters
of every read endpoint fuzzed with hostile text. Never a 500; every refusal in
the one error shape.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import Any

import orjson
import pytest
from django.test import Client
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.models import TokenUsage
from tests.awu.reports import build
from tests.integrations.webhooks import fixture
from tests.ledger import factories
from tests.reliability.security_helpers import mutated_body

pytestmark = pytest.mark.django_db

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
DEEP = b"[" * 5000 + b"]" * 5000
INVALID_UTF8 = b'{"id": "\xff\xfe\xfa"}'


def assert_error_shape(response: Any, status: int, error_type: str | None = None) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = orjson.loads(response.content)
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if error_type is not None:
        assert body["type"] == error_type, body


def post_raw(
    client: Client, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> Any:
    """POST the bytes as they are (the test client re-encodes a body whose content
    type names a charset, and drops the content type of an empty one)."""
    return client.generic(
        "POST", path, body, content_type=content_type, headers=headers, CONTENT_TYPE=content_type
    )


def assert_otlp_refusal(response: Any, status: int, request_type: str) -> None:
    """OTLP answers a refusal with a google.rpc.Status in the request's encoding
    (the JSON form also carries the error shape's fields)."""
    if request_type == PROTOBUF:
        assert response.status_code == status, response.content[:300]
        assert response["Content-Type"] == PROTOBUF
        refusal = status_pb2.Status.FromString(response.content)
        assert refusal.code
        assert refusal.message
    else:
        assert_error_shape(response, status)


@pytest.fixture
def admin(client: Client, make_key: Any, settings: Any) -> Client:
    settings.AWU_NOW = factories.NOW
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {make_key('admin')}"
    return client


@pytest.fixture
def definition_id(db: None) -> int:
    return build.definition().definition_id


# --- Bodies --------------------------------------------------------------------------------

BAD_JSON_BODIES = [
    pytest.param(INVALID_UTF8, JSON, 400, id="invalid-utf8"),
    pytest.param(DEEP, JSON, 400, id="deeply-nested"),
    pytest.param(b"\xef\xbb\xbf{}", JSON, 400, id="byte-order-mark"),
    pytest.param('{"a": 1}'.encode("utf-16"), "application/json; charset=utf-16", 400, id="utf16"),
    pytest.param(b"{}", "text/plain", 415, id="text-plain"),
    pytest.param(b"a=1&b=2", "application/x-www-form-urlencoded", 415, id="form"),
    pytest.param(b"--x\r\n\r\n{}\r\n--x--", "multipart/form-data; boundary=x", 415, id="multipart"),
    pytest.param(b"<a/>", "application/xml", 415, id="xml"),
]


@pytest.mark.parametrize(("body", "content_type", "status"), BAD_JSON_BODIES)
def test_token_usage_refuses_unreadable_bodies_in_the_error_shape(
    admin: Client, body: bytes, content_type: str, status: int
) -> None:
    response = post_raw(admin, "/api/v1/token-usage", body, content_type)

    assert_error_shape(response, status)
    assert not TokenUsage.objects.exists()


@pytest.mark.parametrize(("body", "content_type", "status"), BAD_JSON_BODIES)
def test_definition_preview_refuses_unreadable_bodies_in_the_error_shape(
    admin: Client, definition_id: int, body: bytes, content_type: str, status: int
) -> None:
    response = post_raw(admin, f"/api/v1/definitions/{definition_id}/preview", body, content_type)

    assert_error_shape(response, status)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"42",
        b'"days"',
        b'{"days": 0}',
        b'{"days": 366}',
        b'{"days": "\\u0000"}',
        b'{"days": 1.5}',
        b'{"days": 99999999999999999999999}',
        b'{"version": -1}',
        b'{"version": 99999999999999999999999}',
        b'{"days": {"nested": [1, 2]}}',
    ],
)
def test_definition_preview_refuses_invalid_fields_with_a_400(
    admin: Client, definition_id: int, body: bytes
) -> None:
    response = post_raw(admin, f"/api/v1/definitions/{definition_id}/preview", body, JSON)

    assert_error_shape(response, 400)


@pytest.mark.parametrize("url", ["/api/v1/events", "/api/v1/token-usage"])
def test_a_batch_count_a_hundred_times_the_limit_is_a_413_before_validation(
    admin: Client, url: str
) -> None:
    # 100,000 empty objects: small in bytes, far over the count.
    body = b"[" + b",".join([b"{}"] * 100_000) + b"]"

    response = post_raw(admin, url, body, JSON)

    assert_error_shape(response, 413, "payload_too_large")


@pytest.mark.parametrize("path", ["/v1/logs", "/v1/metrics"])
@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status"),
    [
        pytest.param(INVALID_UTF8, JSON, None, 400, id="invalid-utf8"),
        pytest.param(DEEP, JSON, None, 400, id="deeply-nested"),
        pytest.param(b"42", JSON, None, 400, id="json-scalar"),
        pytest.param(
            b'{"resourceLogs": 7, "resourceMetrics": 7}', JSON, None, 400, id="wrong-types"
        ),
        pytest.param(b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF, None, 400, id="truncated-protobuf"),
        pytest.param(gzip.compress(INVALID_UTF8), JSON, "gzip", 400, id="gzipped-invalid-utf8"),
        pytest.param(b"{}", "application/xml", None, 415, id="xml"),
        pytest.param(b"{}", JSON, "br", 415, id="brotli"),
    ],
)
def test_otlp_refuses_unreadable_exports_in_the_error_shape(
    admin: Client,
    path: str,
    body: bytes,
    content_type: str,
    encoding: str | None,
    status: int,
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}

    response = post_raw(admin, path, body, content_type, headers)

    assert_otlp_refusal(response, status, content_type)
    assert not TokenUsage.objects.exists()


def fuzz(examples: int) -> Any:
    """Bounded, repeatable hypothesis runs against the database-backed client."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


OTLP_SEEDS = {
    "/v1/logs": ["logs_claude_code.json", "logs_one_invalid.json"],
    "/v1/metrics": ["metrics_delta.json", "metrics_cumulative_1.json"],
}


@pytest.mark.parametrize("path", sorted(OTLP_SEEDS))
@fuzz(30)
@given(data=st.data())
def test_a_mutated_real_otlp_export_is_stored_or_refused_never_a_500(
    admin: Client, path: str, data: Any
) -> None:
    name = data.draw(st.sampled_from(OTLP_SEEDS[path]), label="seed")
    body = data.draw(mutated_body(fixture("otlp", name)), label="body")

    response = post_raw(admin, path, body, JSON)

    if response.status_code == 200:
        orjson.loads(response.content)  # the export response, in JSON
    else:
        assert_error_shape(response, 400)


@pytest.mark.parametrize("path", sorted(OTLP_SEEDS))
@fuzz(30)
@given(data=st.data())
def test_a_damaged_protobuf_export_is_stored_or_refused_never_a_500(
    admin: Client, path: str, data: Any
) -> None:
    seed = bytearray(
        fixture("otlp", "logs_claude_code.pb" if "logs" in path else "metrics_delta.pb")
    )
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(seed) - 1))
        seed[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(seed)))

    response = post_raw(admin, path, bytes(seed[:cut]), PROTOBUF)

    if response.status_code != 200:
        assert_otlp_refusal(response, 400, PROTOBUF)


# --- Query parameters ------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="\x00\t\n %&=;:,/\\'\"<>-_.0123456789", max_size=20),
    st.sampled_from(
        [
            "",
            "\x00",
            "-1",
            "0",
            "1e9",
            "99999999999999999999999",
            "NaN",
            "null",
            "2026-02-30",
            "2026-13-01",
            "2026-11-01T25:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00+99:00",
            "9999-12-31",
            "0001-01-01",
            "x" * 5000,
            "commit:",
            ":",
            "a:b:c",
            "team,team,team",
            "week,month,model,person",
        ]
    ),
    st.dates().map(str),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda moment: moment.isoformat() + "Z"
    ),
    st.integers(-(2**70), 2**70).map(str),
)

REPORT_PARAMETERS = [
    "from", "to", "team", "person", "domain", "definition", "source", "provider", "model",
    "ai", "group_by", "basis", "as_of", "format", "cursor", "limit", "state",
]  # fmt: skip
LEDGER_PARAMETERS = [
    "from", "to", "team", "person", "actor", "source", "type", "ref", "cursor", "limit",
    "provider", "model", "cost_source",
]  # fmt: skip
READ_ENDPOINTS = {
    "/api/v1/reports/efficiency": REPORT_PARAMETERS,
    "/api/v1/reports/spend-deciles": REPORT_PARAMETERS,
    "/api/v1/reports/trend": REPORT_PARAMETERS,
    "/api/v1/work-units": REPORT_PARAMETERS,
    "/api/v1/definitions": REPORT_PARAMETERS,
    "/api/v1/events": LEDGER_PARAMETERS,
    "/api/v1/token-usage": LEDGER_PARAMETERS,
    "/api/v1/alerts": ["state", "team", "rule", "order", "cursor", "limit", "format"],
}


@pytest.mark.parametrize("path", sorted(READ_ENDPOINTS))
@fuzz(25)
@given(data=st.data())
def test_hostile_query_parameters_are_answered_or_refused_never_a_500(
    admin: Client, path: str, data: Any
) -> None:
    names = READ_ENDPOINTS[path]
    query = data.draw(
        st.dictionaries(st.sampled_from(names), HOSTILE_TEXT, min_size=1, max_size=4),
        label="query",
    )

    response = admin.get(path, query)

    if response.status_code == 200:
        assert response.content
    else:
        assert_error_shape(response, 400)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    ids=["year-0", "year-10000"],
)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/reports/efficiency", "from"),
        ("/api/v1/reports/efficiency", "as_of"),
        ("/api/v1/work-units", "to"),
        ("/api/v1/events", "from"),
        ("/api/v1/token-usage", "to"),
    ],
)
def test_a_period_bound_outside_the_calendar_in_utc_is_a_400(
    admin: Client, path: str, name: str, value: str
) -> None:
    response = admin.get(path, {name: value})

    assert_error_shape(response, 400, "validation_error")


def test_query_string_hostility_does_not_reach_the_body_of_an_error(admin: Client) -> None:
    # The error names the parameter; it does not echo megabytes back.
    response = admin.get("/api/v1/reports/efficiency", {"from": "x" * 100_000})

    assert_error_shape(response, 400)
    assert len(response.content) < 2_000
    assert json.loads(response.content)["errors"]
