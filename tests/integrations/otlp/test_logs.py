"""Claude Code log events (OTLP) -> token usage records and session-commit links."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from integrations.otlp.decoding import decode_logs
from integrations.otlp.logs import LogsResult, usage_from_logs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otlp"
RECEIVED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
SESSION = "7f3c2a1e-4b5d-4c6e-9f8a-1b2c3d4e5f60"
PROMPT = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
COMMIT = "9f1c2e7a4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a"


def document(name: str = "logs_claude_code.json") -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return loaded


def records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    return found


def attribute(record: dict[str, Any], key: str) -> dict[str, Any]:
    return next(pair for pair in record["attributes"] if pair["key"] == key)


def drop_attribute(record: dict[str, Any], key: str) -> None:
    record["attributes"] = [pair for pair in record["attributes"] if pair["key"] != key]


def mapped(doc: dict[str, Any]) -> LogsResult:
    return usage_from_logs(
        decode_logs(orjson.dumps(doc), "application/json"), received_at=RECEIVED_AT
    )


def opus_usage(result: LogsResult) -> dict[str, Any]:
    return next(item for item in result.usage if item["model"] == "claude-opus-4-5-20251101")


def test_each_api_request_becomes_one_usage_record() -> None:
    result = mapped(document())

    assert [item["model"] for item in result.usage] == [
        "claude-opus-4-5-20251101",
        "claude-haiku-4-5-20251001",
    ]


def test_api_request_carries_model_tokens_and_time() -> None:
    usage = opus_usage(mapped(document()))

    assert usage["provider"] == "anthropic"
    assert usage["occurred_at"] == "2026-11-02T09:15:30.512000Z"
    assert (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cache_creation_input_tokens"],
        usage["cache_read_input_tokens"],
    ) == (1834, 412, 2210, 40112)


def test_reported_cost_comes_from_exact_micros_when_sent() -> None:
    doc = document()
    attribute(records(doc)[1], "cost_usd_micros")["value"] = {"intValue": "42801"}

    assert opus_usage(mapped(doc))["cost_usd"] == "0.042801"


def test_reported_cost_falls_back_to_the_double_as_written() -> None:
    haiku = mapped(document()).usage[1]

    assert haiku["cost_usd"] == "0.00137"


def test_reported_cost_is_rounded_to_the_ledger_nine_places() -> None:
    doc = document()
    attribute(records(doc)[4], "cost_usd")["value"] = {"doubleValue": 0.30000000000000004}

    assert mapped(doc).usage[1]["cost_usd"] == "0.3"


def test_missing_cost_is_null_not_zero() -> None:
    doc = document()
    drop_attribute(records(doc)[4], "cost_usd")

    assert mapped(doc).usage[1]["cost_usd"] is None


def test_usage_names_the_person_and_the_team_from_resource_attributes() -> None:
    usage = opus_usage(mapped(document()))

    assert (usage["actor"], usage["team"]) == ("alice@example.com", "platform")


def test_team_is_read_from_the_resource_when_the_record_lacks_it() -> None:
    doc = document()
    drop_attribute(records(doc)[1], "team.id")

    assert opus_usage(mapped(doc))["team"] == "platform"


def test_actor_falls_back_to_the_account_uuid_without_an_email() -> None:
    doc = document()
    drop_attribute(records(doc)[1], "user.email")

    assert opus_usage(mapped(doc))["actor"] == "claude-code:3a1b5c7d-9e0f-4a2b-8c4d-6e8f0a2b4c6d"


def test_usage_refs_name_the_session_and_prompt() -> None:
    usage = opus_usage(mapped(document()))

    assert usage["refs"] == {"session": [SESSION], "prompt": [PROMPT]}


def test_usage_is_marked_as_derived_from_logs() -> None:
    usage = opus_usage(mapped(document()))

    assert usage["attributes"]["derived_from"] == "logs"
    assert usage["attributes"]["request_id"] == "req_011CUv7Hq3nXb2kF9aZ8mPqR"


def test_retried_export_maps_to_identical_records() -> None:
    first = mapped(document())
    again = mapped(document())

    assert (again.usage, again.events) == (first.usage, first.events)


def test_protobuf_export_maps_like_the_json_export() -> None:
    from_protobuf = usage_from_logs(
        decode_logs((FIXTURES / "logs_claude_code.pb").read_bytes(), "application/x-protobuf"),
        received_at=RECEIVED_AT,
    )

    assert from_protobuf.usage == mapped(document()).usage


def test_id_depends_on_session_and_request_id_only() -> None:
    doc = document()
    attribute(records(doc)[1], "event.timestamp")["value"] = {
        "stringValue": "2026-11-02T09:20:00.000Z"
    }
    attribute(records(doc)[1], "output_tokens")["value"] = {"intValue": "999"}

    assert opus_usage(mapped(doc))["id"] == opus_usage(mapped(document()))["id"]


def test_different_request_ids_give_different_ids() -> None:
    doc = document()
    attribute(records(doc)[1], "request_id")["value"] = {"stringValue": "req_011Other"}

    assert opus_usage(mapped(doc))["id"] != opus_usage(mapped(document()))["id"]


def test_without_request_id_two_distinct_requests_get_distinct_ids() -> None:
    doc = document()
    twin = copy.deepcopy(records(doc)[4])
    attribute(twin, "event.sequence")["value"] = {"intValue": "16"}
    records(doc).append(twin)

    ids = [item["id"] for item in mapped(doc).usage]

    assert ids[1] != ids[2]


def test_without_request_id_the_fallback_id_is_stable() -> None:
    assert mapped(document()).usage[1]["id"] == mapped(document()).usage[1]["id"]


def test_event_name_is_read_from_the_body_when_the_attribute_is_absent() -> None:
    doc = document()
    drop_attribute(records(doc)[1], "event.name")

    assert len(mapped(doc).usage) == 2


def test_time_falls_back_to_the_record_timestamp() -> None:
    doc = document()
    drop_attribute(records(doc)[1], "event.timestamp")

    assert opus_usage(mapped(doc))["occurred_at"] == "2026-11-02T09:15:30.512000Z"


def test_sessions_with_log_usage_are_reported() -> None:
    assert mapped(document()).sessions == {SESSION}


def test_successful_git_commit_links_the_session_to_the_commit() -> None:
    (event,) = mapped(document()).events

    assert event["type"] == "x.session.commit"
    assert event["refs"] == {"session": [SESSION], "commit": [COMMIT], "prompt": [PROMPT]}
    assert event["occurred_at"] == "2026-11-02T09:15:34.020000Z"
    assert event["actor"] == "alice@example.com"


def test_commit_link_id_is_the_same_for_a_retry() -> None:
    assert mapped(document()).events[0]["id"] == mapped(document()).events[0]["id"]


def test_failed_bash_call_links_nothing() -> None:
    doc = document()
    attribute(records(doc)[2], "success")["value"] = {"stringValue": "false"}

    assert mapped(doc).events == []


def test_tool_result_without_tool_details_links_nothing() -> None:
    doc = document()
    drop_attribute(records(doc)[2], "tool_parameters")

    assert mapped(doc).events == []


def test_commit_sha_that_is_not_hex_is_rejected() -> None:
    doc = document()
    attribute(records(doc)[2], "tool_parameters")["value"] = {
        "stringValue": '{"bash_command": "git", "git_commit_id": "not-a-sha"}'
    }

    result = mapped(doc)

    assert (result.events, result.rejected) == ([], 1)


def test_events_the_ledger_does_not_use_are_counted_as_ignored() -> None:
    # user_prompt and the Read tool_result
    assert mapped(document()).ignored == 2


def test_record_without_model_is_rejected_and_the_rest_still_map() -> None:
    result = mapped(document("logs_one_invalid.json"))

    assert result.rejected == 1
    assert [item["model"] for item in result.usage] == ["claude-sonnet-4-5-20250929"]
    assert result.error_message is not None
    assert "model missing" in result.error_message


def test_negative_token_count_is_rejected() -> None:
    doc = document()
    attribute(records(doc)[1], "input_tokens")["value"] = {"intValue": "-5"}

    result = mapped(doc)

    assert result.rejected == 1
    assert len(result.usage) == 1


def test_nothing_rejected_means_no_error_message() -> None:
    assert mapped(document()).error_message is None
