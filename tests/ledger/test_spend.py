"""ledger.spend: a source that reports requests one by one and summed (Claude Code's
logs and metrics) never counts the same spend twice."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ledger import ingest
from ledger.models import Source, TokenUsage, UsageKey
from ledger.schemas import TokenUsageIn
from ledger.spend import spend_counted_condition, spend_counted_usage

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def source(slug: str) -> Source:
    return Source.objects.create(kind="otlp", slug=slug)


def store(at: Source, record_id: str, derived_from: str | None, *sessions: str) -> None:
    record: dict[str, Any] = {
        "source": at.slug,
        "id": record_id,
        "provider": "anthropic",
        "model": "claude-opus-4-5",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": "0.01",
    }
    if derived_from == "metrics":
        record["period_start"] = "2026-11-02T09:00:00Z"
        record["period_end"] = "2026-11-02T09:01:00Z"
        record["grain"] = "summary"
    else:
        record["occurred_at"] = "2026-11-02T09:00:30Z"
    if derived_from:
        record["attributes"] = {"derived_from": derived_from}
    if sessions:
        record["refs"] = {"session": list(sessions)}
    (result,) = ingest.usage_ingest(items=[record], now=NOW, source_id=at.pk)
    assert result.status == "created", result


def counted() -> set[str]:
    return set(spend_counted_usage().values_list("external_id", flat=True))


def test_log_derived_usage_counts() -> None:
    store(source("a"), "log-1", "logs", "s1")
    assert counted() == {"log-1"}


def test_metrics_for_a_session_with_log_usage_do_not_count() -> None:
    cc = source("a")
    store(cc, "log-1", "logs", "s1")
    store(cc, "metrics-1", "metrics", "s1")
    assert counted() == {"log-1"}


def test_the_rule_does_not_depend_on_arrival_order() -> None:
    cc = source("a")
    store(cc, "metrics-1", "metrics", "s1")
    store(cc, "log-1", "logs", "s1")
    assert counted() == {"log-1"}


def test_metrics_for_a_session_without_log_usage_count() -> None:
    cc = source("a")
    store(cc, "log-1", "logs", "s1")
    store(cc, "metrics-2", "metrics", "s2")
    assert counted() == {"log-1", "metrics-2"}


def test_log_usage_from_another_source_does_not_cover_metrics() -> None:
    store(source("a"), "log-1", "logs", "s1")
    store(source("b"), "metrics-1", "metrics", "s1")
    assert counted() == {"log-1", "metrics-1"}


def test_metrics_without_a_session_count_only_where_the_source_never_sent_logs() -> None:
    with_logs, metrics_only = source("a"), source("b")
    store(with_logs, "log-1", "logs", "s1")
    store(with_logs, "metrics-a", "metrics")
    store(metrics_only, "metrics-b", "metrics")
    assert counted() == {"log-1", "metrics-b"}


def test_usage_not_from_claude_code_always_counts() -> None:
    api = source("gateway")
    store(api, "req-1", None, "s1")
    store(api, "report-1", "usage_report")
    assert counted() == {"req-1", "report-1"}


def test_the_rule_over_sessions_and_sources() -> None:
    a, b = source("a"), source("b")
    store(a, "log-1", "logs", "s1")
    store(a, "log-2", "logs", "s2", "s3")
    store(a, "m-1", "metrics", "s1")
    store(a, "m-2", "metrics", "s3")
    store(a, "m-3", "metrics", "s4")
    store(a, "m-4", "metrics")
    store(b, "m-5", "metrics", "s1")
    store(b, "m-6", "metrics")
    store(source("c"), "api-1", None)
    assert counted() == {"log-1", "log-2", "m-3", "m-5", "m-6", "api-1"}


def test_a_summary_without_a_session_stops_counting_once_its_source_reports_requests() -> None:
    b = source("b")
    store(b, "m-6", "metrics")
    assert counted() == {"m-6"}
    store(b, "api-1", None)
    assert counted() == {"api-1"}


def test_the_grain_is_stored_and_a_retried_request_record_stays_a_duplicate() -> None:
    cc = source("a")
    store(cc, "m-1", "metrics", "s1")
    store(cc, "log-1", "logs", "s1")
    grains = dict(TokenUsage.objects.values_list("external_id", "grain"))
    assert grains == {"m-1": "summary", "log-1": "request"}
    again = {
        "source": cc.slug,
        "id": "log-1",
        "occurred_at": "2026-11-02T09:00:30Z",
        "provider": "anthropic",
        "model": "claude-opus-4-5",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": "0.01",
        "attributes": {"derived_from": "logs"},
        "refs": {"session": ["s1"]},
    }
    (result,) = ingest.usage_ingest(items=[again], now=NOW, source_id=cc.pk)
    assert result.status == "duplicate"
    # A request record's canonical body is what it was before records had a grain,
    # so a record retried across that upgrade is still a duplicate.
    body = TokenUsageIn.model_validate(again).model_dump(exclude={"source", "grain"})
    before = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).digest()
    assert bytes(UsageKey.objects.get(external_id="log-1").digest) == before


def test_the_selector_chains_like_any_queryset() -> None:
    cc = source("a")
    store(cc, "log-1", "logs", "s1")
    store(cc, "metrics-1", "metrics", "s1")
    store(cc, "metrics-2", "metrics", "s2")
    narrowed = spend_counted_usage(TokenUsage.objects.filter(grain="summary"))
    assert list(narrowed.values_list("external_id", flat=True)) == ["metrics-2"]


def test_the_sql_condition_refuses_an_alias_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        spend_counted_condition("u; DROP TABLE ledger_tokenusage")
