"""``GET /metrics``: Prometheus text, behind a reports:read key."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

EVENT = {
    "source": "deploy-bot",
    "id": "deploy-1",
    "type": "deploy.succeeded",
    "occurred_at": "2026-11-01T12:00:00Z",
    "refs": {"deploy": ["1"]},
}


def test_metrics_need_a_key(api: Any) -> None:
    assert api().get("/metrics").status_code == 401


def test_metrics_need_the_reports_scope(api: Any) -> None:
    assert api("events:write").get("/metrics").status_code == 403


def test_metrics_report_the_scoring_backlog_in_prometheus_text(api: Any) -> None:
    assert api("events:write").post("/api/v1/events", EVENT).status_code == 201

    response = api("reports:read").get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "awu_scoring_backlog_events 1.0" in text
    for name in (
        "awu_scoring_backlog_age_seconds",
        "awu_dead_letters",
        "awu_unpriced_usage_records",
    ):
        assert f"# TYPE {name} gauge" in text


def test_an_incident_with_no_service_and_no_refs_is_stored_and_counted_as_unattributed(
    api: Any,
) -> None:
    bare = {
        "source": "pager",
        "id": "incident-1",
        "type": "incident.opened",
        "occurred_at": "2026-11-01T12:00:00Z",
    }
    assert api("events:write").post("/api/v1/events", bare).status_code == 201

    text = api("reports:read").get("/metrics").content.decode()

    assert "# TYPE awu_incidents_unattributed gauge" in text
    assert "awu_incidents_unattributed 1.0" in text


def test_unpriced_usage_that_a_reprice_priced_is_no_longer_counted(api: Any) -> None:
    from decimal import Decimal

    from ledger.models import CostAdjustment, ModelPrice, TokenUsage

    record = {
        "source": "gateway",
        "id": "req-1",
        "occurred_at": "2026-11-01T12:00:00Z",
        "provider": "acme",
        "model": "acme-large",
        "input_tokens": 1000,
    }
    assert api("usage:write").post("/api/v1/token-usage", record).status_code == 201
    reader = api("reports:read")

    def unpriced() -> str:
        lines = reader.get("/metrics").content.decode().splitlines()
        [line] = [x for x in lines if x.startswith("awu_unpriced_usage_records ")]
        return line.split()[1]

    assert unpriced() == "1.0"
    price = ModelPrice.objects.create(
        provider="acme",
        model="acme-large",
        match="acme-large",
        effective_from="2026-01-01T00:00:00Z",
        input=Decimal("1"),
        output=Decimal("2"),
    )
    CostAdjustment.objects.create(
        usage_id=TokenUsage.objects.get(external_id="req-1").id,
        delta_usd=Decimal("0.001"),
        price=price,
        reason="reprice",
    )
    assert unpriced() == "0.0"
