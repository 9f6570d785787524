"""Bad requests to the ingest endpoints: always the error shape, never a 500."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from ledger.models import TokenUsage, WorkEvent
from tests.ledger.factories import event, usage

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
USAGE = "/api/v1/token-usage"


def assert_error_shape(response: Any, status: int, error_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if error_type is not None:
        assert body["type"] == error_type
    return body


def test_malformed_json_is_a_400(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, b'{"source": "deploy-bot", "id":')

    assert_error_shape(response, 400, "invalid_json")


def test_invalid_utf8_is_a_400(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, b'{"source": "deploy-bot\xff\xfe"}')

    assert_error_shape(response, 400, "invalid_json")


def test_nan_is_a_400(events_writer: Any) -> None:
    body = orjson.dumps(event())[:-1] + b', "attributes": {"ratio": NaN}}'

    assert_error_shape(events_writer.post(EVENTS, body), 400, "invalid_json")


def test_number_out_of_float_range_is_a_400(events_writer: Any) -> None:
    body = orjson.dumps(event(attributes={}))[:-1] + b', "attributes": {"big": 1e400}}'

    assert_error_shape(events_writer.post(EVENTS, body), 400, "invalid_json")


def test_deep_nesting_is_a_400(events_writer: Any) -> None:
    body = b'{"attributes": ' + b"[" * 2000 + b"]" * 2000 + b"}"

    assert_error_shape(events_writer.post(EVENTS, body), 400, "invalid_json")


def test_nesting_deeper_than_the_attribute_limit_is_invalid(events_writer: Any) -> None:
    nested: Any = "leaf"
    for _ in range(40):
        nested = [nested]

    response = events_writer.post(EVENTS, event(attributes={"deep": nested}))

    body = assert_error_shape(response, 400, "validation_error")
    assert "attributes" in body["errors"]


@pytest.mark.parametrize(
    "literal",
    [
        pytest.param(b"18446744073709551615", id="u64-max"),
        pytest.param(b"-9223372036854775808", id="i64-min"),
        pytest.param(b"100000000000000000000000000000", id="10e29"),
    ],
)
def test_huge_integer_in_attributes_is_stored_or_refused_cleanly(
    events_writer: Any, reader: Any, literal: bytes
) -> None:
    body = orjson.dumps(event(source="huge", attributes={}))[:-1]
    body = body.replace(b'"attributes":{}', b'"attributes":{"n":' + literal + b"}") + b"}"

    response = events_writer.post(EVENTS, body)

    assert response.status_code in (201, 400), response.content[:500]
    if response.status_code == 400:
        assert_error_shape(response, 400)
    else:
        listing = reader.get(EVENTS, {"source": "huge"})
        assert listing.status_code == 200, listing.content[:500]
        # Read back as the number the client wrote (jsonb keeps numbers exact).
        stored = listing.json()["results"][0]["attributes"]["n"]
        assert Decimal(str(stored)) == Decimal(literal.decode())


def test_large_float_in_attributes_can_be_read_back(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, event(source="floaty", attributes={"x": 1e300}))

    listing = reader.get(EVENTS, {"source": "floaty"})

    assert listing.status_code == 200, listing.content[:500]
    assert Decimal(str(listing.json()["results"][0]["attributes"]["x"])) == Decimal("1e300")


@pytest.mark.parametrize("field", ["id", "actor", "team", "subject"], ids=lambda f: f"nul-in-{f}")
def test_nul_character_in_a_string_field_is_invalid(events_writer: Any, field: str) -> None:
    response = events_writer.post(EVENTS, event(**{field: "a\u0000b"}))

    body = assert_error_shape(response, 400, "validation_error")
    assert field in body["errors"]


def test_nul_character_in_attributes_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(attributes={"note": "a\u0000b"}))

    body = assert_error_shape(response, 400, "validation_error")
    assert "attributes" in body["errors"]


def test_nul_character_in_an_attribute_key_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(attributes={"a\u0000b": 1}))

    assert_error_shape(response, 400, "validation_error")


def test_nul_character_in_a_ref_value_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(refs={"commit": ["a\u0000b"]}))

    body = assert_error_shape(response, 400, "validation_error")
    assert "refs.commit.0" in body["errors"]


def test_year_9999_is_invalid_as_future(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(occurred_at="9999-12-31T23:59:59Z"))

    body = assert_error_shape(response, 400, "validation_error")
    assert "occurred_at" in body["errors"]


def test_year_0001_is_accepted(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(occurred_at="0001-01-01T00:00:00Z"))

    assert response.status_code == 201, response.content[:500]


def test_year_0001_with_a_positive_offset_is_not_a_500(events_writer: Any) -> None:
    # Midnight of 1 January year 1 at +01:00 is still in year 0 in UTC.
    response = events_writer.post(EVENTS, event(occurred_at="0001-01-01T00:00:00+01:00"))

    assert response.status_code in (201, 400), response.content[:500]


def test_body_over_the_size_limit_is_a_413(events_writer: Any) -> None:
    body = event(attributes={"blob": "x" * (10 * 1024 * 1024)})

    assert_error_shape(events_writer.post(EVENTS, body), 413, "payload_too_large")


def test_batch_of_1001_items_is_a_413(events_writer: Any) -> None:
    batch = [event() for _ in range(1001)]

    assert_error_shape(events_writer.post(EVENTS, batch), 413, "payload_too_large")
    assert WorkEvent.objects.count() == 0


def test_batch_of_1000_items_is_accepted(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, [event() for _ in range(1000)])

    assert response.status_code == 201


def test_empty_batch_is_a_400(events_writer: Any) -> None:
    assert_error_shape(events_writer.post(EVENTS, b"[]"), 400, "validation_error")


def test_empty_body_is_a_400(events_writer: Any) -> None:
    # The test client drops the content type of an empty body unless it is given as extra.
    response = events_writer.post(EVENTS, b"", CONTENT_TYPE="application/json")

    assert_error_shape(response, 400, "invalid_json")


@pytest.mark.parametrize("scalar", [b"42", b'"text"', b"null", b"true", b"1.5"])
def test_json_scalar_body_is_a_400(events_writer: Any, scalar: bytes) -> None:
    assert_error_shape(events_writer.post(EVENTS, scalar), 400, "validation_error")


def test_batch_item_that_is_not_an_object_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, [event(), 42, "text", None, []])

    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created"] + ["invalid"] * 4


def test_text_plain_is_a_415(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, orjson.dumps(event()), content_type="text/plain")

    assert_error_shape(response, 415, "unsupported_media_type")


def test_missing_content_type_is_a_415(events_writer: Any) -> None:
    response = events_writer.client.generic(
        "POST",
        EVENTS,
        orjson.dumps(event()),
        content_type=None,
        HTTP_AUTHORIZATION=f"Bearer {events_writer.key}",
    )

    assert_error_shape(response, 415, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(events_writer: Any) -> None:
    response = events_writer.post(
        EVENTS, orjson.dumps(event()), content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201


def test_id_given_as_a_number_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(id=4711))

    body = assert_error_shape(response, 400, "validation_error")
    assert "id" in body["errors"]


def test_occurred_at_given_as_unix_seconds_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(EVENTS, event(occurred_at=1793534400))

    body = assert_error_shape(response, 400, "validation_error")
    assert "occurred_at" in body["errors"]


def test_token_count_given_as_a_string_is_invalid(usage_writer: Any) -> None:
    response = usage_writer.post(USAGE, usage(input_tokens="12000"))

    body = assert_error_shape(response, 400, "validation_error")
    assert "input_tokens" in body["errors"]


def test_negative_token_count_is_invalid(usage_writer: Any) -> None:
    response = usage_writer.post(USAGE, usage(output_tokens=-1))

    body = assert_error_shape(response, 400, "validation_error")
    assert "output_tokens" in body["errors"]


def test_cost_given_as_a_float_is_invalid_and_asks_for_a_decimal_string(
    usage_writer: Any,
) -> None:
    response = usage_writer.post(USAGE, usage(cost_usd=0.0123))

    body = assert_error_shape(response, 400, "validation_error")
    assert any("decimal string" in reason for reason in body["errors"]["cost_usd"])
    assert TokenUsage.objects.count() == 0


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-0.01", "abc", "1e400"])
def test_cost_that_is_not_a_finite_non_negative_decimal_is_invalid(
    usage_writer: Any, cost: str
) -> None:
    response = usage_writer.post(USAGE, usage(cost_usd=cost))

    body = assert_error_shape(response, 400, "validation_error")
    assert "cost_usd" in body["errors"]


def test_cost_with_more_than_nine_decimal_places_is_invalid(usage_writer: Any) -> None:
    response = usage_writer.post(USAGE, usage(cost_usd="0.0000000001"))

    assert_error_shape(response, 400, "validation_error")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("url", [EVENTS, USAGE])
def test_methods_other_than_get_and_post_are_a_405(api: Any, method: str, url: str) -> None:
    admin = api("admin")

    response = getattr(admin.client, method)(url, HTTP_AUTHORIZATION=f"Bearer {admin.key}")

    assert_error_shape(response, 405, "method_not_allowed")


def test_unknown_api_path_is_a_404_in_the_error_shape(api: Any) -> None:
    response = api("admin").get("/api/v1/nothing-here")

    assert_error_shape(response, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [b"{", b"\x00", b"\xef\xbb\xbf{}", b'{"a":1}{"b":2}', b'{"source": ' + b'"' * 3 + b"}"],
    ids=["open-brace", "nul-byte", "bom", "two-documents", "stray-quotes"],
)
def test_garbage_body_is_a_400_not_a_500(events_writer: Any, body: bytes) -> None:
    assert_error_shape(events_writer.post(EVENTS, body), 400)
