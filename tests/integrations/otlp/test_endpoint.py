"""POST /v1/logs and /v1/metrics: OTLP/HTTP through the real view and database."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.db import OperationalError, connection
from django.test import Client
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from integrations.models import MetricSeries
from ledger.models import Source, TokenUsage, WorkEvent
from tests.integrations.webhooks import fixture

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SESSION = "7f3c2a1e-4b5d-4c6e-9f8a-1b2c3d4e5f60"


def otlp(name: str) -> bytes:
    return fixture("otlp", name)


class Exporter:
    """Posts export requests as an OTLP/HTTP exporter does, with one bearer key."""

    def __init__(self, client: Client, key: str | None) -> None:
        self.client = client
        self.key = key

    def post(self, path: str, body: bytes, content_type: str = JSON, **headers: str) -> Any:
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        return self.client.post(path, data=body, content_type=content_type, headers=headers)

    def logs(self, name: str, **options: Any) -> Any:
        return self.post("/v1/logs", otlp(name), _type_of(name), **options)

    def metrics(self, name: str, **options: Any) -> Any:
        return self.post("/v1/metrics", otlp(name), _type_of(name), **options)


def _type_of(name: str) -> str:
    return PROTOBUF if name.endswith(".pb") else JSON


@pytest.fixture
def exporter(client: Client, make_key: Callable[..., str], settings: Any) -> Exporter:
    # The recorded exports are dated 2026-11-02; the clock sits just after them.
    settings.AWU_NOW = "2026-11-02T12:00:00Z"
    return Exporter(client, make_key("usage:write"))


def usage() -> list[TokenUsage]:
    return list(TokenUsage.objects.order_by("id"))


def events() -> list[WorkEvent]:
    return list(WorkEvent.objects.order_by("id"))


# Logs


@pytest.mark.django_db
def test_claude_code_log_export_stores_usage_and_the_commit_link(exporter: Exporter) -> None:
    response = exporter.logs("logs_claude_code.json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == JSON
    assert orjson.loads(response.content) == {}
    assert [(u.provider, u.attributes["derived_from"]) for u in usage()] == [
        ("anthropic", "logs"),
        ("anthropic", "logs"),
    ]
    assert all(u.refs["session"] == [SESSION] for u in usage())
    assert [e.type for e in events()] == ["x.session.commit"]


@pytest.mark.django_db
def test_reported_cost_is_kept_exactly(exporter: Exporter) -> None:
    exporter.logs("logs_claude_code.json")
    assert all(u.cost_source == "reported" for u in usage())


@pytest.mark.django_db
def test_log_export_posted_twice_is_stored_once(exporter: Exporter) -> None:
    exporter.logs("logs_claude_code.json")
    again = exporter.logs("logs_claude_code.json")
    assert again.status_code == 200
    assert orjson.loads(again.content) == {}
    assert len(usage()) == 2
    assert len(events()) == 1


@pytest.mark.django_db
def test_protobuf_export_is_answered_in_protobuf_and_matches_the_json_one(
    exporter: Exporter,
) -> None:
    exporter.logs("logs_claude_code.json")
    response = exporter.logs("logs_claude_code.pb")
    assert response.status_code == 200
    assert response["Content-Type"] == PROTOBUF
    answer = logs_service_pb2.ExportLogsServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert len(usage()) == 2  # the same records: duplicates of the JSON export


@pytest.mark.django_db
def test_gzip_body_is_accepted(exporter: Exporter) -> None:
    body = gzip.compress(otlp("logs_claude_code.pb"))
    response = exporter.post("/v1/logs", body, PROTOBUF, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert len(usage()) == 2


@pytest.mark.django_db
def test_invalid_record_is_counted_in_partial_success_and_the_rest_stored(
    exporter: Exporter,
) -> None:
    response = exporter.logs("logs_one_invalid.json")
    assert response.status_code == 200
    partial = orjson.loads(response.content)["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "model missing" in partial["errorMessage"]
    assert len(usage()) == 1


@pytest.mark.django_db
def test_records_the_ledger_refuses_count_as_rejected(exporter: Exporter, settings: Any) -> None:
    # A month before the export: every record is too far in the future to accept.
    settings.AWU_NOW = "2026-10-01T00:00:00Z"
    response = exporter.logs("logs_claude_code.pb")
    answer = logs_service_pb2.ExportLogsServiceResponse.FromString(response.content)
    assert response.status_code == 200
    assert answer.partial_success.rejected_log_records == 3
    assert "in the future" in answer.partial_success.error_message
    assert not usage()
    assert not events()


@pytest.mark.django_db
def test_text_plain_is_refused_with_415(exporter: Exporter) -> None:
    response = exporter.post("/v1/logs", otlp("logs_claude_code.json"), "text/plain")
    assert response.status_code == 415
    assert orjson.loads(response.content)["type"] == "unsupported_media_type"
    assert not usage()


@pytest.mark.django_db
def test_unknown_content_encoding_is_refused_with_415(exporter: Exporter) -> None:
    response = exporter.post(
        "/v1/logs", otlp("logs_claude_code.json"), JSON, **{"Content-Encoding": "br"}
    )
    assert response.status_code == 415


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", JSON),
        (b"[1, 2, 3]", JSON),
        (b"\xff\xfe\x00garbage\x12\x99", PROTOBUF),
        (b"\x1f\x8b\x08\x00broken gzip", JSON),
    ],
)
def test_garbage_is_refused_with_400(exporter: Exporter, body: bytes, content_type: str) -> None:
    options = {"Content-Encoding": "gzip"} if body.startswith(b"\x1f\x8b") else {}
    response = exporter.post("/v1/logs", body, content_type, **options)
    assert response.status_code == 400
    assert not usage()


@pytest.mark.django_db
def test_a_refused_protobuf_export_is_answered_with_a_protobuf_status(exporter: Exporter) -> None:
    response = exporter.post("/v1/logs", b"\xff\xfe\x00garbage\x12\x99", PROTOBUF)
    assert response.status_code == 400
    assert response["Content-Type"] == PROTOBUF
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message


@pytest.mark.django_db
def test_a_refused_json_export_is_answered_with_a_json_status_and_the_error_fields(
    exporter: Exporter,
) -> None:
    response = exporter.post("/v1/metrics", b"{not json", JSON)
    body = orjson.loads(response.content)
    assert (response.status_code, body["code"]) == (400, code_pb2.INVALID_ARGUMENT)
    assert body["message"] == body["detail"]
    assert body["type"] == "invalid_otlp"


@pytest.mark.django_db
def test_an_export_without_a_key_gets_an_unauthenticated_status(client: Client) -> None:
    response = Exporter(client, None).post("/v1/logs", b"\x0a\x00", PROTOBUF)
    assert response.status_code == 401
    assert response["WWW-Authenticate"]
    assert status_pb2.Status.FromString(response.content).code == code_pb2.UNAUTHENTICATED


@pytest.mark.django_db
def test_gzip_bomb_is_refused_with_413(exporter: Exporter) -> None:
    bomb = gzip.compress(b"\x00" * (21 * 1024 * 1024), compresslevel=9)
    response = exporter.post("/v1/logs", bomb, PROTOBUF, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413


@pytest.mark.django_db
def test_body_over_the_configured_cap_is_refused_with_413(
    exporter: Exporter, settings: Any
) -> None:
    settings.AWU_MAX_BODY_BYTES = 1024
    response = exporter.logs("logs_claude_code.json")
    assert response.status_code == 413


@pytest.mark.django_db
def test_no_key_is_refused_with_401(client: Client) -> None:
    response = Exporter(client, None).logs("logs_claude_code.json")
    assert response.status_code == 401
    assert not usage()


@pytest.mark.django_db
def test_key_without_usage_write_is_refused_with_403(
    client: Client, make_key: Callable[..., str]
) -> None:
    response = Exporter(client, make_key("reports:read")).metrics("metrics_delta.json")
    assert response.status_code == 403
    assert not usage()


@pytest.mark.django_db
def test_database_unavailable_is_a_retryable_503(
    exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(**_: Any) -> Source:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("integrations.otlp.views.otlp_source_for_key", unavailable)
    response = exporter.logs("logs_claude_code.json")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert orjson.loads(response.content)["code"] == code_pb2.UNAVAILABLE


@pytest.mark.django_db
def test_each_key_stores_under_its_own_otlp_source(
    client: Client, make_key: Callable[..., str], exporter: Exporter
) -> None:
    exporter.logs("logs_claude_code.json")
    exporter.metrics("metrics_delta.json")
    Exporter(client, make_key("usage:write", name="second")).logs("logs_one_invalid.json")
    sources = Source.objects.filter(kind="otlp").order_by("id")
    assert [s.slug.startswith("otlp-key-") for s in sources] == [True, True]
    first = sources[0]
    assert {u.attributes["derived_from"] for u in usage() if u.source_id == first.pk} == {
        "logs",
        "metrics",
    }


# Metrics


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["metrics_delta.json", "metrics_delta.pb"])
def test_delta_metrics_become_bucketed_usage_and_activity_events(
    exporter: Exporter, name: str
) -> None:
    response = exporter.metrics(name)
    assert response.status_code == 200
    (record,) = usage()
    assert record.attributes["derived_from"] == "metrics"
    assert record.period_end is not None
    assert record.input_tokens == 3044
    assert sorted(e.type for e in events()) == [
        "x.activity.commit",
        "x.activity.lines_of_code",
        "x.activity.lines_of_code",
    ]


@pytest.mark.django_db
def test_metrics_export_posted_twice_is_stored_once(exporter: Exporter) -> None:
    exporter.metrics("metrics_delta.json")
    again = exporter.metrics("metrics_delta.pb")
    answer = metrics_service_pb2.ExportMetricsServiceResponse.FromString(again.content)
    assert not answer.HasField("partial_success")
    assert len(usage()) == 1
    assert len(events()) == 3


@pytest.mark.django_db
def test_cumulative_exports_store_only_the_increase(exporter: Exporter) -> None:
    for name in [
        "metrics_cumulative_1.json",
        "metrics_cumulative_2.json",
        "metrics_cumulative_1.json",  # a late retry of the first export
        "metrics_cumulative_2.json",  # and of the second
        "metrics_cumulative_reset.json",
    ]:
        assert exporter.metrics(name).status_code == 200
    assert [u.input_tokens for u in usage()] == [1000, 500, 300]
    assert MetricSeries.objects.filter(time_unix_nano__isnull=True).count() == 0
    assert MetricSeries.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_cumulative_exports_never_count_a_series_twice(
    client: Client, make_key: Callable[..., str], settings: Any
) -> None:
    settings.AWU_NOW = "2026-11-02T12:00:00Z"
    key = make_key("usage:write")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def export(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            statuses.append(Exporter(Client(), key).metrics(name).status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=export, args=(name,))
        for name in ("metrics_cumulative_1.json", "metrics_cumulative_2.json")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200, 200]
    # Whichever export ran first, the series' total is its latest cumulative value.
    assert sum(u.input_tokens for u in usage()) == 1500


@pytest.mark.django_db
def test_a_log_export_takes_a_bounded_number_of_queries(
    exporter: Exporter, django_assert_max_num_queries: Any
) -> None:
    exporter.logs("logs_claude_code.pb")  # first use: creates the key's source
    # Source lookup, one statement each for events and usage (plus the duplicate
    # check each answers), and their savepoints: independent of the record count.
    with django_assert_max_num_queries(12):
        response = exporter.post("/v1/logs", otlp("logs_claude_code.pb"), PROTOBUF)
    assert response.status_code == 200
