"""Every record the usage mappings produce is accepted by the ingest API's own schemas.

The mappings leave out ``source`` (the endpoint names it); the check adds one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from integrations.otlp.decoding import decode_logs, decode_metrics
from integrations.otlp.logs import usage_from_logs
from integrations.otlp.metrics import InMemorySeriesStore, usage_from_metrics
from integrations.usage_reports.anthropic import token_costs, usage_records
from integrations.usage_reports.openai import usage_records as openai_usage_records
from ledger.schemas import TokenUsageIn, WorkEventIn

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def read(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def json_pages(*paths: str) -> list[dict[str, Any]]:
    return [orjson.loads(read(path)) for path in paths]


def logs_result() -> Any:
    request = decode_logs(read("otlp/logs_claude_code.json"), "application/json")
    return usage_from_logs(request, received_at=datetime(2026, 11, 2, 10, tzinfo=UTC))


def metrics_result() -> Any:
    request = decode_metrics(read("otlp/metrics_delta.json"), "application/json")
    return usage_from_metrics(request, store=InMemorySeriesStore())


def anthropic_records() -> list[dict[str, Any]]:
    costs = token_costs(
        json_pages("anthropic/cost_report_page1.json", "anthropic/cost_report_page2.json")
    )
    return usage_records(
        json_pages(
            "anthropic/usage_report_messages_page1.json",
            "anthropic/usage_report_messages_page2.json",
        ),
        costs=costs,
    )


def openai_records() -> list[dict[str, Any]]:
    return openai_usage_records(
        json_pages("openai/usage_completions_page1.json", "openai/usage_completions_page2.json")
    )


USAGE_SOURCES = {
    "claude-code logs": lambda: logs_result().usage,
    "claude-code metrics": lambda: metrics_result().usage,
    "anthropic usage report": anthropic_records,
    "openai usage": openai_records,
}
EVENT_SOURCES = {
    "session commit links": lambda: logs_result().events,
    "activity signals": lambda: metrics_result().events,
}


@pytest.mark.parametrize("name", sorted(USAGE_SOURCES))
def test_usage_records_validate_as_token_usage(name: str) -> None:
    records = USAGE_SOURCES[name]()

    assert records
    for record in records:
        TokenUsageIn.model_validate({"source": "claude-code", **record})


@pytest.mark.parametrize("name", sorted(EVENT_SOURCES))
def test_work_events_validate_as_work_events(name: str) -> None:
    events = EVENT_SOURCES[name]()

    assert events
    for event in events:
        WorkEventIn.model_validate({"source": "claude-code", **event})


def test_the_check_would_catch_a_float_cost() -> None:
    record = {"source": "claude-code", **logs_result().usage[0], "cost_usd": 0.0428}

    with pytest.raises(ValidationError):
        TokenUsageIn.model_validate(record)
