"""spend_counted_usage: Claude Code's logs and metrics never count the same spend twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.otlp.metrics import counts_as_spend
from integrations.selectors import spend_counted_condition, spend_counted_usage
from ledger import ingest
from ledger.models import Source, TokenUsage

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


def test_the_selector_agrees_with_counts_as_spend() -> None:
    a, b = source("a"), source("b")
    store(a, "log-1", "logs", "s1")
    store(a, "log-2", "logs", "s2", "s3")
    store(a, "m-1", "metrics", "s1")
    store(a, "m-2", "metrics", "s3")
    store(a, "m-3", "metrics", "s4")
    store(a, "m-4", "metrics")
    store(b, "m-5", "metrics", "s1")
    store(b, "m-6", "metrics")
    store(b, "api-1", None)
    expected = set()
    for row in TokenUsage.objects.all():
        logs = TokenUsage.objects.filter(source=row.source, attributes__derived_from="logs")
        sessions = {s for refs in logs.values_list("refs", flat=True) for s in refs["session"]}
        record = {"attributes": row.attributes, "refs": row.refs}
        if counts_as_spend(
            record, sessions_with_log_usage=sessions, source_has_log_usage=logs.exists()
        ):
            expected.add(row.external_id)
    assert counted() == expected
    assert counted() == {"log-1", "log-2", "m-3", "m-5", "m-6", "api-1"}


def test_the_selector_chains_like_any_queryset() -> None:
    cc = source("a")
    store(cc, "log-1", "logs", "s1")
    store(cc, "metrics-1", "metrics", "s1")
    store(cc, "metrics-2", "metrics", "s2")
    narrowed = spend_counted_usage(TokenUsage.objects.filter(attributes__derived_from="metrics"))
    assert list(narrowed.values_list("external_id", flat=True)) == ["metrics-2"]


def test_the_sql_condition_refuses_an_alias_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        spend_counted_condition("u; DROP TABLE ledger_tokenusage")
