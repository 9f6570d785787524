"""The OpenTelemetry Python SDK's own OTLP/HTTP exporters against a running server.

Claude Code exports its token and cost counters through an OpenTelemetry SDK; these
tests use the real one (``opentelemetry-sdk`` with ``OTLPMetricExporter`` and
``OTLPLogExporter`` over HTTP/protobuf) as the client, so the points' start times,
temporality and encoding are what an SDK sends, not a hand-made look-alike. Each
export happens when the test calls ``force_flush``.

A session of two requests: 5,000 input / 100 output tokens for $0.25, then 2,000 /
50 for $0.10. Whatever the temporality, the spend counted is $0.35.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.db.models import Sum
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from ledger.models import TokenUsage
from ledger.pricing.book import install_published_prices
from ledger.spend import spend_counted_usage

pytestmark = pytest.mark.django_db(transaction=True)

SESSION = "0b6e1f7a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
MODEL = "claude-sonnet-4-5-20250929"  # $3 / $15 per million in the shipped price book
FIRST = (5000, 100, 0.25)
SECOND = (2000, 50, 0.10)
BOTH_TEMPORALITIES = pytest.mark.parametrize(
    "temporality",
    [AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE],
    ids=["delta", "cumulative"],
)


class ClaudeCodeSession:
    """One Claude Code session exporting through the SDK: metrics, and logs if asked."""

    def __init__(
        self, *, url: str, key: str, temporality: AggregationTemporality, logs: bool = False
    ) -> None:
        # "Connection: close" ends the test server's request thread after each export,
        # which closes its database connection (a kept-alive one would outlive the test).
        headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
        self.answers: list[requests.Response] = []  # what the server answered each export
        transport = requests.Session()
        transport.hooks["response"].append(lambda answer, *_, **__: self.answers.append(answer))
        resource = Resource.create({"service.name": "claude-code", "service.version": "2.1.0"})
        exporter = OTLPMetricExporter(
            endpoint=f"{url}/v1/metrics",
            headers=headers,
            session=transport,
            preferred_temporality={Counter: temporality},
        )
        # An interval that never elapses: the test decides when an export happens.
        self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
        self.meters = MeterProvider(resource=resource, metric_readers=[self.reader])
        meter = self.meters.get_meter("com.anthropic.claude_code")
        self.tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
        self.cost = meter.create_counter("claude_code.cost.usage", unit="USD")
        self.logs: LoggerProvider | None = None
        if logs:
            self.logs = LoggerProvider(resource=resource)
            self.logs.add_log_record_processor(
                SimpleLogRecordProcessor(
                    OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=headers)
                )
            )
        self.requests = 0

    def api_request(self, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """What Claude Code records for one model request."""
        self.requests += 1
        common = {"session.id": SESSION, "user.email": "dana@example.com", "model": MODEL}
        self.tokens.add(input_tokens, {**common, "type": "input"})
        self.tokens.add(output_tokens, {**common, "type": "output"})
        self.cost.add(cost_usd, common)
        if self.logs is not None:
            self.logs.get_logger("com.anthropic.claude_code.events").emit(
                event_name="claude_code.api_request",
                body="claude_code.api_request",
                attributes={
                    **common,
                    "event.name": "api_request",
                    "request_id": f"req_{self.requests:04d}",
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cost_usd": cost_usd,
                },
            )

    def export(self) -> None:
        before = len(self.answers)
        assert self.reader.force_flush()
        assert len(self.answers) == before + 1
        assert self.answers[-1].status_code == 200, self.answers[-1].content

    def close(self) -> None:
        self.meters.shutdown()
        if self.logs is not None:
            self.logs.shutdown()


@pytest.fixture
def claude_code(
    live_server: Any, make_key: Callable[..., str]
) -> Iterator[Callable[..., ClaudeCodeSession]]:
    install_published_prices()
    key = make_key("usage:write")
    opened: list[ClaudeCodeSession] = []

    def start(temporality: AggregationTemporality, *, logs: bool = False) -> ClaudeCodeSession:
        session = ClaudeCodeSession(
            url=live_server.url, key=key, temporality=temporality, logs=logs
        )
        opened.append(session)
        return session

    yield start
    for session in opened:
        session.close()


def spend() -> Decimal:
    total: Decimal | None = spend_counted_usage().aggregate(total=Sum("cost_usd"))["total"]
    return total or Decimal(0)


def two_exports(session: ClaudeCodeSession) -> None:
    session.api_request(*FIRST)
    session.export()
    session.api_request(*SECOND)
    session.export()


@BOTH_TEMPORALITIES
def test_sdk_metrics_count_the_reported_cost_of_each_export_once(
    claude_code: Callable[..., ClaudeCodeSession], temporality: AggregationTemporality
) -> None:
    two_exports(claude_code(temporality))

    assert spend() == Decimal("0.35")


@BOTH_TEMPORALITIES
def test_each_sdk_export_is_one_usage_record_with_its_tokens_by_kind(
    claude_code: Callable[..., ClaudeCodeSession], temporality: AggregationTemporality
) -> None:
    two_exports(claude_code(temporality))

    records = TokenUsage.objects.order_by("occurred_at")
    assert [(u.input_tokens, u.output_tokens, u.cost_usd, u.cost_source) for u in records] == [
        (5000, 100, Decimal("0.25"), "reported"),
        (2000, 50, Decimal("0.10"), "reported"),
    ]


@BOTH_TEMPORALITIES
def test_an_sdk_export_sent_again_stores_nothing_new(
    claude_code: Callable[..., ClaudeCodeSession], temporality: AggregationTemporality
) -> None:
    session = claude_code(temporality)
    two_exports(session)
    stored = TokenUsage.objects.count()

    for answer in list(session.answers):
        sent = answer.request
        assert sent.url is not None
        again = requests.post(sent.url, data=sent.body, headers=dict(sent.headers), timeout=10)
        assert again.status_code == 200, again.content

    assert TokenUsage.objects.count() == stored
    assert spend() == Decimal("0.35")


def test_sdk_logs_and_metrics_together_count_the_spend_once(
    claude_code: Callable[..., ClaudeCodeSession],
) -> None:
    two_exports(claude_code(AggregationTemporality.DELTA, logs=True))

    derived = sorted(TokenUsage.objects.values_list("attributes__derived_from", flat=True))
    assert derived == ["logs", "logs", "metrics", "metrics"]
    assert spend() == Decimal("0.35")
