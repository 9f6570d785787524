"""Claude Code metrics (OTLP) -> bucketed usage, activity signals, the logs-plus-metrics rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from integrations.otlp.decoding import decode_metrics
from integrations.otlp.metrics import (
    InMemorySeriesStore,
    MetricsResult,
    usage_from_metrics,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otlp"
SESSION = "7f3c2a1e-4b5d-4c6e-9f8a-1b2c3d4e5f60"


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return loaded


def metrics(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    return found


def metric(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in metrics(doc) if item["name"] == name)


def mapped(doc: dict[str, Any], store: InMemorySeriesStore | None = None) -> MetricsResult:
    request = decode_metrics(orjson.dumps(doc), "application/json")
    return usage_from_metrics(request, store=store if store is not None else InMemorySeriesStore())


def tokens(record: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        record["input_tokens"],
        record["output_tokens"],
        record["cache_read_input_tokens"],
        record["cache_creation_input_tokens"],
    )


def test_delta_export_becomes_one_record_per_session_model_and_period() -> None:
    (usage,) = mapped(document("metrics_delta.json")).usage

    assert usage["model"] == "claude-opus-4-5-20251101"
    assert (usage["period_start"], usage["period_end"]) == (
        "2026-11-02T09:15:00Z",
        "2026-11-02T09:16:00Z",
    )
    assert tokens(usage) == (3044, 444, 40112, 2210)


def test_delta_cost_is_a_decimal_string() -> None:
    (usage,) = mapped(document("metrics_delta.json")).usage

    assert usage["cost_usd"] == "0.04417"


def test_metrics_usage_is_marked_and_refers_to_the_session() -> None:
    (usage,) = mapped(document("metrics_delta.json")).usage

    assert usage["attributes"]["derived_from"] == "metrics"
    assert usage["refs"] == {"session": [SESSION]}
    assert (usage["actor"], usage["team"]) == ("alice@example.com", "platform")


def test_retried_delta_export_maps_to_the_same_records() -> None:
    store = InMemorySeriesStore()

    first = mapped(document("metrics_delta.json"), store)
    again = mapped(document("metrics_delta.json"), store)

    assert again.usage == first.usage
    assert again.events == first.events


def test_protobuf_delta_export_maps_like_json() -> None:
    request = decode_metrics((FIXTURES / "metrics_delta.pb").read_bytes(), "application/x-protobuf")

    result = usage_from_metrics(request, store=InMemorySeriesStore())

    assert result.usage == mapped(document("metrics_delta.json")).usage


def test_series_split_by_other_attributes_are_summed_into_one_record() -> None:
    doc = document("metrics_delta.json")
    points = metric(doc, "claude_code.token.usage")["sum"]["dataPoints"]
    subagent = orjson.loads(orjson.dumps(points[0]))
    for pair in subagent["attributes"]:
        if pair["key"] == "query_source":
            pair["value"] = {"stringValue": "subagent"}
    subagent["asInt"] = "6"
    points.append(subagent)

    (usage,) = mapped(doc).usage

    assert usage["input_tokens"] == 3050


def stagger_start_times(doc: dict[str, Any]) -> None:
    """Give each usage point its own start (7 s apart), as an SDK does on a first export."""
    points = [
        point
        for name in ("claude_code.token.usage", "claude_code.cost.usage")
        for point in metric(doc, name)["sum"]["dataPoints"]
    ]
    for n, point in enumerate(points, start=1):
        point["startTimeUnixNano"] = str(int(point["startTimeUnixNano"]) + n * 7 * 10**9)


def test_one_export_is_one_record_whatever_its_points_start_times() -> None:
    doc = document("metrics_delta.json")
    stagger_start_times(doc)

    (usage,) = mapped(doc).usage

    assert tokens(usage) == (3044, 444, 40112, 2210)
    assert usage["cost_usd"] == "0.04417"
    assert (usage["period_start"], usage["period_end"]) == (
        "2026-11-02T09:15:07Z",  # the earliest start among the points
        "2026-11-02T09:16:00Z",
    )


def test_first_cumulative_export_is_one_record_whatever_its_points_start_times() -> None:
    doc = document("metrics_cumulative_1.json")
    stagger_start_times(doc)
    store = InMemorySeriesStore()

    (first,) = mapped(doc, store).usage
    retried = mapped(doc, store)

    assert (first["input_tokens"], first["output_tokens"], first["cost_usd"]) == (1000, 200, "0.02")
    assert retried.usage == []


def test_first_cumulative_export_counts_everything_since_start() -> None:
    (usage,) = mapped(document("metrics_cumulative_1.json")).usage

    assert (usage["input_tokens"], usage["output_tokens"], usage["cost_usd"]) == (1000, 200, "0.02")
    assert usage["period_start"] == "2026-11-02T09:00:00Z"
    assert usage["attributes"]["temporality"] == "cumulative"


def test_next_cumulative_export_counts_only_the_increment() -> None:
    store = InMemorySeriesStore()
    mapped(document("metrics_cumulative_1.json"), store)

    (usage,) = mapped(document("metrics_cumulative_2.json"), store).usage

    assert (usage["input_tokens"], usage["output_tokens"], usage["cost_usd"]) == (500, 60, "0.0075")
    assert (usage["period_start"], usage["period_end"]) == (
        "2026-11-02T09:01:00Z",
        "2026-11-02T09:02:00Z",
    )


def test_consecutive_cumulative_exports_get_distinct_ids() -> None:
    store = InMemorySeriesStore()
    first = mapped(document("metrics_cumulative_1.json"), store).usage[0]
    second = mapped(document("metrics_cumulative_2.json"), store).usage[0]

    assert first["id"] != second["id"]


def test_retried_cumulative_export_adds_nothing() -> None:
    store = InMemorySeriesStore()
    mapped(document("metrics_cumulative_1.json"), store)
    mapped(document("metrics_cumulative_2.json"), store)

    retry = mapped(document("metrics_cumulative_2.json"), store)

    assert retry.usage == []
    assert retry.ignored > 0


def test_retry_after_lost_state_repeats_the_same_record() -> None:
    # The ledger stores records and series state in one transaction; if both were
    # lost, the retry must produce the very same record (a duplicate, not new spend).
    before = InMemorySeriesStore()
    mapped(document("metrics_cumulative_1.json"), before)
    snapshot = dict(before.points)
    first = mapped(document("metrics_cumulative_2.json"), before).usage

    restored = InMemorySeriesStore()
    restored.points.update(snapshot)

    assert mapped(document("metrics_cumulative_2.json"), restored).usage == first


def test_new_start_time_starts_the_series_over() -> None:
    store = InMemorySeriesStore()
    mapped(document("metrics_cumulative_1.json"), store)
    mapped(document("metrics_cumulative_2.json"), store)

    (usage,) = mapped(document("metrics_cumulative_reset.json"), store).usage

    assert (usage["input_tokens"], usage["output_tokens"], usage["cost_usd"]) == (300, 50, "0.004")
    assert usage["period_start"] == "2026-11-02T09:05:00Z"


def test_value_drop_without_new_start_time_is_a_reset() -> None:
    store = InMemorySeriesStore()
    mapped(document("metrics_cumulative_2.json"), store)
    later = document("metrics_cumulative_1.json")
    for item in metrics(later):
        for point in item["sum"]["dataPoints"]:
            point["timeUnixNano"] = "1793610300000000000"  # 09:05, after the stored point

    (usage,) = mapped(later, store).usage

    assert usage["input_tokens"] == 1000


def test_commit_and_lines_counters_become_activity_events() -> None:
    events = mapped(document("metrics_delta.json")).events

    assert sorted((event["type"], event["attributes"]["value"]) for event in events) == [
        ("x.activity.commit", 1),
        ("x.activity.lines_of_code", 9),
        ("x.activity.lines_of_code", 27),
    ]


def test_activity_event_refers_to_the_session_and_says_what_it_counted() -> None:
    events = mapped(document("metrics_delta.json")).events
    added = next(event for event in events if event["attributes"].get("type") == "added")

    assert added["refs"] == {"session": [SESSION]}
    assert added["attributes"]["metric"] == "claude_code.lines_of_code.count"
    assert added["occurred_at"] == "2026-11-02T09:16:00Z"


def test_activity_counters_never_become_usage() -> None:
    doc = document("metrics_delta.json")
    doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"] = [
        metric(doc, "claude_code.commit.count")
    ]

    assert mapped(doc).usage == []


def test_cumulative_pull_request_counter_emits_on_increment_only() -> None:
    store = InMemorySeriesStore()

    assert mapped(document("metrics_cumulative_1.json"), store).events == []
    (event,) = mapped(document("metrics_cumulative_2.json"), store).events
    assert (event["type"], event["attributes"]["value"]) == ("x.activity.pull_request", 1)


def test_other_metrics_are_ignored() -> None:
    # claude_code.session.count
    assert mapped(document("metrics_delta.json")).ignored == 1


def test_unknown_token_type_is_rejected() -> None:
    doc = document("metrics_delta.json")
    point = metric(doc, "claude_code.token.usage")["sum"]["dataPoints"][0]
    for pair in point["attributes"]:
        if pair["key"] == "type":
            pair["value"] = {"stringValue": "reasoning"}

    result = mapped(doc)

    assert result.rejected == 1
    assert result.usage[0]["input_tokens"] == 0
    assert result.error_message is not None
    assert "reasoning" in result.error_message


def test_cost_without_model_is_rejected() -> None:
    doc = document("metrics_delta.json")
    point = metric(doc, "claude_code.cost.usage")["sum"]["dataPoints"][0]
    point["attributes"] = [pair for pair in point["attributes"] if pair["key"] != "model"]

    result = mapped(doc)

    assert result.rejected == 1
    assert result.usage[0]["cost_usd"] is None


def test_cost_sent_as_a_gauge_is_rejected() -> None:
    doc = document("metrics_delta.json")
    cost = metric(doc, "claude_code.cost.usage")
    cost["gauge"] = {"dataPoints": cost.pop("sum")["dataPoints"]}

    assert mapped(doc).rejected == 1


def test_unspecified_temporality_is_rejected() -> None:
    doc = document("metrics_delta.json")
    metric(doc, "claude_code.cost.usage")["sum"]["aggregationTemporality"] = 0

    assert mapped(doc).rejected == 1


def test_metrics_without_session_id_are_grouped_by_user() -> None:
    doc = document("metrics_delta.json")
    for item in metrics(doc):
        for point in item["sum"]["dataPoints"]:
            point["attributes"] = [
                pair for pair in point["attributes"] if pair["key"] != "session.id"
            ]

    (usage,) = mapped(doc).usage

    assert "refs" not in usage
    assert usage["actor"] == "alice@example.com"


# --- the logs-plus-metrics rule -------------------------------------------------------


def test_metrics_usage_is_stored_as_a_summary_of_requests() -> None:
    (usage,) = mapped(document("metrics_delta.json")).usage

    assert usage["grain"] == "summary"
