"""``GET /metrics``: Prometheus metrics, read from the database at scrape time.

Every number comes from PostgreSQL, so any number of web processes answer alike
(no per-process counters to merge). Totals of the large tables are the planner's
estimates (``pg_class.reltuples``), which cost nothing; what an operator alerts on
— the scoring backlog and its age, dead letters, unpriced usage — is exact.
Needs an API key with ``reports:read`` (Prometheus: ``authorization: credentials``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rest_framework.request import Request
from rest_framework.views import APIView

from awu.reports.facts import usage_unpriced_sql
from awu.reports.incidents import unattributed_incidents
from ledger.models import ApiKey
from ledger.openapi import errors
from ledger.replica import read_connection

_ESTIMATED_TABLES = {
    "ledger_workevent": "work_events",
    "ledger_tokenusage": "token_usage_records",
    "scoring_awuentry": "awu_entries",
}


class _LedgerCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        with read_connection().cursor() as cursor:
            cursor.execute(
                # Summed over partitions (a partitioned parent holds no rows itself).
                "SELECT t.name, sum(greatest(c.reltuples, 0))::bigint"
                " FROM unnest(%s::text[]) t(name), pg_partition_tree(t.name::regclass) p"
                " JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf GROUP BY t.name",
                [list(_ESTIMATED_TABLES)],
            )
            estimated = GaugeMetricFamily(
                "awu_rows_estimated",
                "Rows in the ledger's large tables (planner estimate).",
                labels=["table"],
            )
            for table, rows in cursor.fetchall():
                estimated.add_metric([_ESTIMATED_TABLES[table]], rows)
            yield estimated

            cursor.execute(
                "SELECT coalesce(sum(cardinality(event_ids)), 0),"
                " coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM ledger_eventoutbox"
            )
            backlog, age = cursor.fetchone()
            yield GaugeMetricFamily(
                "awu_scoring_backlog_events", "Events stored but not yet scored.", value=backlog
            )
            yield GaugeMetricFamily(
                "awu_scoring_backlog_age_seconds",
                "Age of the oldest unscored event.",
                value=float(age),
            )

            cursor.execute(
                "SELECT state, count(*) FROM scoring_workunit WHERE superseded_at IS NULL GROUP BY state"
            )
            units = GaugeMetricFamily("awu_work_units", "Work units by state.", labels=["state"])
            for state, count in cursor.fetchall():
                units.add_metric([state], count)
            yield units

            yield GaugeMetricFamily(
                "awu_incidents_unattributed",
                "Incidents opened that are attributed to no change (no service, no named change, "
                "or no deploy of their service in the window before them).",
                value=unattributed_incidents(),
            )

            cursor.execute("SELECT count(*) FROM integrations_deadletter WHERE replayed_at IS NULL")
            yield GaugeMetricFamily(
                "awu_dead_letters",
                "Webhook deliveries that failed to map, not replayed.",
                value=cursor.fetchone()[0],
            )

            # Unpriced until a reprice appends an adjustment carrying a price (the
            # reports' rule, awu.reports.facts).
            cursor.execute(
                f"SELECT count(*) FROM ledger_tokenusage u WHERE {usage_unpriced_sql('u')}"  # noqa: S608 - fixed SQL
            )
            yield GaugeMetricFamily(
                "awu_unpriced_usage_records",
                "Token usage with no reported cost and no price.",
                value=cursor.fetchone()[0],
            )

            cursor.execute(
                "SELECT count(*) FROM ledger_team"
                " WHERE status = 'discovered' AND merged_into_id IS NULL"
            )
            yield GaugeMetricFamily(
                "awu_teams_discovered",
                "Teams made from records that named them, not yet confirmed or merged.",
                value=cursor.fetchone()[0],
            )

            cursor.execute(
                "SELECT (SELECT count(*) FROM alerts_alert WHERE state = 'open'),"
                " (SELECT count(*) FROM alerts_delivery WHERE state = 'failed')"
            )
            open_alerts, failed = cursor.fetchone()
            yield GaugeMetricFamily(
                "awu_alerts_open",
                "Alerts open (not acknowledged, not resolved).",
                value=open_alerts,
            )
            yield GaugeMetricFamily(
                "awu_alert_deliveries_failed",
                "Alert deliveries that ran out of attempts (admin, Deliveries, failed).",
                value=failed,
            )


class MetricsView(APIView):
    required_scopes: ClassVar[tuple[str, ...]] = (ApiKey.Scope.REPORTS_READ,)
    every_team = "the gauges are organisation-wide"

    @extend_schema(
        operation_id="metrics",
        summary="Prometheus metrics",
        description="Scoring backlog and its age, work units by state, dead letters, unpriced "
        "usage, discovered teams, table sizes. Text exposition format. Needs `reports:read`.",
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Metrics."),
            **errors(401, 403),
        },
        tags=["operations"],
    )
    def get(self, request: Request) -> HttpResponse:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_LedgerCollector())
        return HttpResponse(
            generate_latest(registry), content_type="text/plain; version=0.0.4; charset=utf-8"
        )
