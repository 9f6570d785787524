"""OTLP/HTTP transport: content types, gzip, size limit, OTLP/JSON specifics, responses."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from integrations.otlp.decoding import (
    OtlpRequestError,
    PayloadTooLarge,
    UnsupportedMediaType,
    decode_logs,
    decode_metrics,
    decompress,
    encode_logs_response,
    encode_metrics_response,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otlp"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def minimal_logs(**record: object) -> bytes:
    return orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]})


def test_json_trace_id_is_read_as_hex_not_base64() -> None:
    message = decode_logs(fixture("logs_claude_code.json"), "application/json")

    record = message.resource_logs[0].scope_logs[0].log_records[1]

    assert record.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert record.span_id.hex() == "eee19b7ec3c1b174"


def test_protobuf_and_json_encodings_decode_to_the_same_logs_message() -> None:
    from_json = decode_logs(fixture("logs_claude_code.json"), "application/json")
    from_protobuf = decode_logs(fixture("logs_claude_code.pb"), "application/x-protobuf")

    assert from_protobuf == from_json


def test_protobuf_and_json_encodings_decode_to_the_same_metrics_message() -> None:
    from_json = decode_metrics(fixture("metrics_delta.json"), "application/json")
    from_protobuf = decode_metrics(fixture("metrics_delta.pb"), "application/x-protobuf")

    assert from_protobuf == from_json


def test_int64_as_decimal_string_and_as_number_decode_alike() -> None:
    as_string = decode_logs(minimal_logs(timeUnixNano="1793610930512000000"), "application/json")
    as_number = decode_logs(minimal_logs(timeUnixNano=1793610930512000000), "application/json")

    assert as_string == as_number
    assert as_string.resource_logs[0].scope_logs[0].log_records[0].time_unix_nano == (
        1793610930512000000
    )


def test_enum_is_read_from_its_integer_value() -> None:
    message = decode_logs(minimal_logs(severityNumber=9), "application/json")

    assert message.resource_logs[0].scope_logs[0].log_records[0].severity_number == 9


def test_unknown_json_fields_are_ignored() -> None:
    body = orjson.dumps(
        {
            "resourceLogs": [
                {"scopeLogs": [{"logRecords": [{"severityText": "INFO", "futureField": 1}]}]}
            ],
            "anotherFutureField": {"x": 1},
        }
    )

    message = decode_logs(body, "application/json")

    assert message.resource_logs[0].scope_logs[0].log_records[0].severity_text == "INFO"


def test_attribute_named_trace_id_is_not_rewritten() -> None:
    body = minimal_logs(attributes=[{"key": "traceId", "value": {"stringValue": "not-hex"}}])

    message = decode_logs(body, "application/json")

    pair = message.resource_logs[0].scope_logs[0].log_records[0].attributes[0]
    assert (pair.key, pair.value.string_value) == ("traceId", "not-hex")


def test_non_hex_trace_id_is_bad_data() -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decode_logs(minimal_logs(traceId="zz"), "application/json")

    assert caught.value.http_status == 400


def test_malformed_json_is_bad_data() -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decode_logs(b'{"resourceLogs": [', "application/json")

    assert caught.value.http_status == 400


def test_json_of_the_wrong_shape_is_bad_data() -> None:
    with pytest.raises(OtlpRequestError):
        decode_logs(b'{"resourceLogs": "nope"}', "application/json")


def test_malformed_protobuf_is_bad_data() -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decode_metrics(b"\x0a\xff\xff\xff", "application/x-protobuf")

    assert caught.value.http_status == 400


def test_content_type_parameters_are_ignored() -> None:
    message = decode_logs(fixture("logs_claude_code.json"), "application/json; charset=utf-8")

    assert len(message.resource_logs) == 1


def test_unknown_content_type_is_unsupported_media_type() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_logs(b"{}", "text/plain")

    assert caught.value.http_status == 415


def test_gzip_body_is_decompressed() -> None:
    raw = fixture("logs_claude_code.pb")

    assert decompress(gzip.compress(raw), "gzip") == raw


def test_identity_body_passes_through() -> None:
    assert decompress(b"abc", None) == b"abc"


def test_unknown_content_encoding_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        decompress(b"abc", "br")


def test_decompressed_size_past_the_limit_is_too_large() -> None:
    bomb = gzip.compress(b"\0" * 10_000)

    with pytest.raises(PayloadTooLarge) as caught:
        decompress(bomb, "gzip", max_bytes=1_000)

    assert caught.value.http_status == 413


def test_uncompressed_size_past_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        decompress(b"x" * 11, "identity", max_bytes=10)


def test_corrupt_gzip_is_bad_data() -> None:
    with pytest.raises(OtlpRequestError) as caught:
        decompress(b"not gzip at all", "gzip")

    assert caught.value.http_status == 400


def test_truncated_gzip_is_bad_data() -> None:
    whole = gzip.compress(fixture("logs_claude_code.pb"))

    with pytest.raises(OtlpRequestError):
        decompress(whole[: len(whole) // 2], "gzip")


def test_full_success_response_leaves_partial_success_unset() -> None:
    body, content_type = encode_logs_response("application/x-protobuf")

    response = logs_service_pb2.ExportLogsServiceResponse.FromString(body)
    assert content_type == "application/x-protobuf"
    assert not response.HasField("partial_success")


def test_partial_success_response_answers_in_the_request_encoding() -> None:
    body, content_type = encode_logs_response(
        "application/json", rejected=2, error_message="2 log record(s) rejected"
    )

    assert content_type == "application/json"
    assert orjson.loads(body) == {
        "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "2 log record(s) rejected"}
    }


def test_metrics_partial_success_counts_rejected_data_points() -> None:
    body, _ = encode_metrics_response("application/json", rejected=1, error_message="bad point")

    assert orjson.loads(body)["partialSuccess"]["rejectedDataPoints"] == "1"
