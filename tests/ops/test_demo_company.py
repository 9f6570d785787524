"""The demo company generator (awu.demo.company): pure, seeded, shaped like the field data."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from awu.demo import payloads
from awu.demo.company import Company, Hook, company_build
from integrations.otlp.logs import LogsResult, usage_from_logs
from integrations.webhooks.base import Delivery
from integrations.webhooks.registry import load_vendors
from ledger.schemas import TokenUsageIn, WorkEventIn

ANCHOR = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def company() -> Company:
    return company_build(anchor=ANCHOR)


def _canonical(hook: Hook) -> list[dict[str, Any]]:
    """What the vendor's own mapping makes of a demo delivery."""
    headers: Mapping[str, str] = (
        {"X-GitHub-Event": hook.kind, "X-GitHub-Delivery": hook.delivery_id} if hook.kind else {}
    )
    mapped = load_vendors()[hook.vendor].parse(
        Delivery(body=orjson.dumps(hook.body), headers=headers), {}
    )
    assert mapped.ignored is None, (hook.vendor, mapped.ignored)
    return mapped.events


def _snapshot(c: Company) -> tuple[bytes, bytes, bytes, bytes]:
    return (
        orjson.dumps(c.events),
        orjson.dumps(c.usage),
        orjson.dumps([(h.vendor, h.kind, h.delivery_id, h.body) for h in c.hooks]),
        orjson.dumps(c.telemetry),
    )


def _claude_code(c: Company) -> LogsResult:
    """What the ledger's Claude Code mapping makes of the demo's log exports."""
    export = logs_service_pb2.ExportLogsServiceRequest.FromString(
        payloads.claude_code_logs_export(c.telemetry)
    )
    return usage_from_logs(export, received_at=ANCHOR)


def _merged_commits(c: Company) -> set[str]:
    records = list(c.events) + [e for hook in c.hooks for e in _canonical(hook)]
    return {sha for r in records if r["type"] == "code.pr.merged" for sha in r["refs"]["commit"]}


def test_same_seed_builds_the_same_company_record_for_record(company: Company) -> None:
    again = company_build(anchor=ANCHOR)

    assert _snapshot(again) == _snapshot(company)
    assert [p.email for p in again.people] == [p.email for p in company.people]


def test_another_seed_builds_another_company() -> None:
    one = company_build(anchor=ANCHOR, seed=1, people=40, days=30)
    two = company_build(anchor=ANCHOR, seed=2, people=40, days=30)

    assert _snapshot(one)[0] != _snapshot(two)[0]
    assert _snapshot(one)[1] != _snapshot(two)[1]


def test_default_company_has_200_people_in_8_teams_across_5_domains(company: Company) -> None:
    assert len(company.people) == 200
    assert len({p.team for p in company.people}) == 8
    assert {p.domain for p in company.people} == {
        "engineering",
        "sales",
        "legal",
        "support",
        "marketing",
    }
    assert len({p.email for p in company.people}) == 200


def test_history_spans_the_days_before_the_anchor_and_nothing_after(company: Company) -> None:
    times = [e["occurred_at"] for e in company.events] + [h.at for h in company.hooks]
    times += [r["at"] for r in company.telemetry]
    ends = [u["period_end"] for u in company.usage]

    assert max(times) < "2026-11-23T00:00:00Z"
    assert max(ends) <= "2026-11-23T00:00:00Z"
    assert min(u["period_start"] for u in company.usage) == "2026-07-26T00:00:00Z"
    assert len(company.events) + len(company.hooks) < 40_000


def test_every_record_is_valid_wire_format_and_every_delivery_maps(company: Company) -> None:
    for record in company.events:
        WorkEventIn.model_validate(record)
    for record in company.usage:
        TokenUsageIn.model_validate(record)
    vendors = {hook.vendor for hook in company.hooks}

    mapped = [event for hook in company.hooks for event in _canonical(hook)]

    assert vendors == {"github", "pagerduty", "docusign", "hubspot", "zendesk"}
    assert {e["type"] for e in mapped} >= {
        "code.pr.merged",
        "deploy.succeeded",
        "code.reverted",
        "incident.opened",
        "incident.attributed",
        "contract.signed",
        "crm.opportunity.stage_changed",
        "ticket.resolved",
        "ticket.reopened",
    }


def test_claude_code_exports_map_to_valid_usage_and_commit_links(company: Company) -> None:
    mapped = _claude_code(company)

    assert mapped.rejected == 0
    for record in mapped.usage:
        TokenUsageIn.model_validate({**record, "source": "otlp-key-1"})
    for record in mapped.events:
        WorkEventIn.model_validate({**record, "source": "otlp-key-1"})
    assert {e["type"] for e in mapped.events} == {"x.session.commit"}
    assert all(u["refs"]["session"] and u["cost_usd"] for u in mapped.usage)


def test_every_session_commit_is_a_commit_of_a_merged_pull_request(company: Company) -> None:
    links = _claude_code(company).events
    merged = _merged_commits(company)

    assert links
    assert {sha for e in links for sha in e["refs"]["commit"]} <= merged


def test_about_half_of_engineering_spend_is_in_sessions_whose_work_was_merged(
    company: Company,
) -> None:
    spend = company.spend_by_person()
    engineering = sum(
        (spend[p.email] for p in company.people if p.domain == "engineering"), Decimal(0)
    )
    merged = {session.id for session in company.sessions if session.commit}

    in_merged_sessions = sum(
        (
            Decimal(repr(r["attributes"]["cost_usd"]))
            for r in company.telemetry
            if r["name"] == "claude_code.api_request" and r["attributes"]["session.id"] in merged
        ),
        Decimal(0),
    )

    assert Decimal("0.4") < in_merged_sessions / engineering < Decimal("0.65")


def test_every_domain_emits_what_its_default_definition_scores(company: Company) -> None:
    types = {e["type"] for e in company.events} | {
        e["type"] for hook in company.hooks for e in _canonical(hook)
    }

    assert {
        "code.pr.merged",
        "crm.opportunity.stage_changed",
        "contract.signed",
        "ticket.resolved",
        "content.published",
        "content.traffic",
    } <= types


def test_spend_is_heavy_tailed_while_output_only_about_doubles(company: Company) -> None:
    spend = company.spend_by_person()
    ranked = sorted(company.people, key=lambda p: spend[p.email])
    top = ranked[-len(ranked) // 10 :]
    median_spend = statistics.median(spend.values())
    median_output = statistics.median(company.work_items[p.email] for p in company.people)

    top_spend = sum((spend[p.email] for p in top), Decimal(0)) / len(top)
    top_output = sum(company.work_items[p.email] for p in top) / len(top)

    assert top_spend / median_spend >= 10
    assert 1.5 <= top_output / median_output <= 3


def test_ai_heavy_changes_get_more_attributed_incidents(company: Company) -> None:
    merged: dict[str, bool] = {}  # PR key -> AI-heavy
    attributed: set[str] = set()
    records = list(company.events) + [e for hook in company.hooks for e in _canonical(hook)]
    for record in records:
        ai = record.get("ai") or {}
        if record["type"] == "code.pr.merged":
            heavy = ai.get("share", 0) >= 0.5 or ai.get("level") == "generated"
            merged[record["refs"]["pr"][0]] = heavy
        elif record["type"] == "incident.attributed":
            attributed.update(record["refs"].get("pr", []))

    def rate(heavy: bool) -> float:
        keys = [key for key, is_heavy in merged.items() if is_heavy is heavy]
        return sum(key in attributed for key in keys) / len(keys)

    assert rate(True) > 1.5 * rate(False)


def test_a_company_smaller_than_two_people_per_team_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 people"):
        company_build(anchor=ANCHOR, people=10)
