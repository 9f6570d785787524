"""The sales, legal, support and marketing defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from awu.definitions.defaults import (
    content_drove_traffic,
    contract_signed,
    opportunity_progressed,
    resolution,
)
from awu.rules.engine import CompiledDefinition, compile_definition, evaluate
from awu.rules.spec import Event, UnitResult, UnitState
from tests.awu.rules.builders import day, ev

SALES = compile_definition(opportunity_progressed().spec)
LEGAL = compile_definition(contract_signed().spec)
SUPPORT = compile_definition(resolution().spec)
MARKETING = compile_definition(content_drove_traffic().spec)


def units_of(compiled: CompiledDefinition, events: list[Event], now_day: float) -> list[UnitResult]:
    return evaluate(compiled, events, day(now_day))


def stage(
    event_id: int, at: float, deal: str, from_order: int, to_order: int, **extra: Any
) -> Event:
    attrs = {
        "from_stage": f"s{from_order}",
        "to_stage": f"s{to_order}",
        "from_order": from_order,
        "to_order": to_order,
        "won": False,
        "lost": False,
        **extra,
    }
    return ev(event_id, "crm.opportunity.stage_changed", at, {"deal": [deal]}, **attrs)


# sales


def test_forward_stage_change_is_pending_for_fourteen_days():
    (unit,) = units_of(SALES, [stage(1, 0, "D1", 2, 3)], now_day=13)
    assert unit.state is UnitState.PENDING
    assert unit.closes_at == day(14)


def test_forward_stage_change_completes_after_fourteen_days():
    (unit,) = units_of(SALES, [stage(1, 0, "D1", 2, 3)], now_day=14)
    assert unit.state is UnitState.COMPLETED


def test_backward_stage_change_is_not_a_unit():
    assert units_of(SALES, [stage(1, 0, "D1", 3, 2)], now_day=20) == []


def test_closed_won_is_a_unit_even_without_pipeline_order():
    won = ev(
        1, "crm.opportunity.stage_changed", 0, {"deal": ["D1"]}, to_stage="closedwon", won=True
    )
    (unit,) = units_of(SALES, [won], now_day=20)
    assert unit.state is UnitState.COMPLETED


def test_closed_lost_is_not_a_unit_even_when_its_stage_sorts_later():
    assert units_of(SALES, [stage(1, 0, "D1", 3, 9, lost=True)], now_day=20) == []


def test_moving_back_below_the_reached_stage_within_the_window_voids():
    (unit,) = units_of(SALES, [stage(1, 0, "D1", 2, 4), stage(2, 5, "D1", 4, 3)], now_day=20)
    assert unit.state is UnitState.VOIDED
    assert unit.reason == "voided by crm.opportunity.stage_changed (event 2)"


def test_moving_back_but_not_below_the_reached_stage_does_not_void():
    events = [stage(1, 0, "D1", 2, 4), stage(2, 1, "D1", 4, 5), stage(3, 2, "D1", 5, 4)]
    units = {u.trigger_id: u.state for u in units_of(SALES, events, now_day=20)}
    assert units == {1: UnitState.COMPLETED, 2: UnitState.VOIDED}


def test_closing_lost_within_the_window_voids():
    events = [stage(1, 0, "D1", 2, 4), stage(2, 3, "D1", 4, 9, lost=True)]
    (unit,) = units_of(SALES, events, now_day=20)
    assert unit.state is UnitState.VOIDED


def test_moving_back_after_the_window_does_not_void():
    (unit,) = units_of(SALES, [stage(1, 0, "D1", 2, 4), stage(2, 15, "D1", 4, 1)], now_day=20)
    assert unit.state is UnitState.COMPLETED


def test_another_deal_moving_back_does_not_void():
    (unit,) = units_of(SALES, [stage(1, 0, "D1", 2, 4), stage(2, 5, "D2", 4, 1)], now_day=20)
    assert unit.state is UnitState.COMPLETED


# legal


def signed(event_id: int, at: float, envelope: str = "docusign:envelope/abc") -> Event:
    return ev(event_id, "contract.signed", at, {"envelope": [envelope]})


def cancelled(event_id: int, at: float, envelope: str = "docusign:envelope/abc") -> Event:
    return ev(event_id, "contract.cancelled", at, {"envelope": [envelope]}, reason="terminated")


def test_signed_contract_is_pending_for_thirty_days():
    (unit,) = units_of(LEGAL, [signed(1, 0)], now_day=29)
    assert unit.state is UnitState.PENDING
    assert unit.closes_at == day(30)


def test_signed_contract_not_cancelled_for_thirty_days_completes():
    (unit,) = units_of(LEGAL, [signed(1, 0)], now_day=30)
    assert unit.state is UnitState.COMPLETED
    assert unit.completed_at == day(30)


def test_contract_cancelled_within_the_window_voids_the_signature():
    (unit,) = units_of(LEGAL, [signed(1, 0), cancelled(2, 12)], now_day=40)
    assert unit.state is UnitState.VOIDED
    assert unit.reason == "voided by contract.cancelled (event 2)"


def test_contract_cancelled_after_the_window_still_counts():
    (unit,) = units_of(LEGAL, [signed(1, 0), cancelled(2, 31)], now_day=40)
    assert unit.state is UnitState.COMPLETED


def test_another_contract_cancelled_does_not_void():
    (unit,) = units_of(LEGAL, [signed(1, 0), cancelled(2, 3, envelope="other")], now_day=40)
    assert unit.state is UnitState.COMPLETED


def test_contract_sent_for_signature_is_not_a_unit():
    sent = ev(1, "x.contract.sent", 0, {"envelope": ["docusign:envelope/abc"]})
    assert units_of(LEGAL, [sent], now_day=5) == []


# support


def resolved(event_id: int, at: float, ticket: str = "T1") -> Event:
    return ev(event_id, "ticket.resolved", at, {"ticket": [ticket]})


def reopened(event_id: int, at: float, ticket: str = "T1") -> Event:
    return ev(event_id, "ticket.reopened", at, {"ticket": [ticket]})


def test_resolved_ticket_is_pending_for_seven_days():
    (unit,) = units_of(SUPPORT, [resolved(1, 0)], now_day=6)
    assert unit.state is UnitState.PENDING
    assert unit.closes_at == day(7)


def test_resolved_ticket_not_reopened_for_seven_days_completes():
    (unit,) = units_of(SUPPORT, [resolved(1, 0)], now_day=7)
    assert unit.state is UnitState.COMPLETED


def test_reopened_within_seven_days_voids_the_resolution():
    (unit,) = units_of(SUPPORT, [resolved(1, 0), reopened(2, 3)], now_day=10)
    assert unit.state is UnitState.VOIDED


def test_reopened_after_seven_days_does_not_void():
    (unit,) = units_of(SUPPORT, [resolved(1, 0), reopened(2, 8)], now_day=10)
    assert unit.state is UnitState.COMPLETED


def test_another_ticket_reopened_does_not_void():
    (unit,) = units_of(SUPPORT, [resolved(1, 0), reopened(2, 3, ticket="T2")], now_day=10)
    assert unit.state is UnitState.COMPLETED


def test_resolving_again_after_a_reopen_is_a_new_unit():
    events = [resolved(1, 0), reopened(2, 1), resolved(3, 2)]
    states = [u.state for u in units_of(SUPPORT, events, now_day=10)]
    assert states == [UnitState.VOIDED, UnitState.COMPLETED]


# marketing


def published(event_id: int, at: float, content: str = "blog/a") -> Event:
    return ev(event_id, "content.published", at, {"content": [content]}, url="https://x/a")


def traffic(event_id: int, at: float, visits: int, content: str = "blog/a") -> Event:
    return ev(event_id, "content.traffic", at, {"content": [content]}, visits=visits)


def test_content_below_the_visit_threshold_waits_for_traffic():
    (unit,) = units_of(MARKETING, [published(1, 0), traffic(2, 1, 400)], now_day=5)
    assert unit.state is UnitState.PENDING
    assert unit.reason == "waiting for content.traffic"


def test_content_matures_thirty_days_after_running_visits_reach_the_threshold():
    events = [published(1, 0), traffic(2, 1, 400), traffic(3, 2, 500), traffic(4, 3, 300)]
    assert units_of(MARKETING, events, now_day=32)[0].state is UnitState.PENDING
    (unit,) = units_of(MARKETING, events, now_day=33)
    assert unit.state is UnitState.COMPLETED
    assert unit.completed_at == day(33)
    assert unit.evidence == (1, 2, 3, 4)


def unpublished(event_id: int, at: float, content: str = "blog/a") -> Event:
    return ev(event_id, "content.unpublished", at, {"content": [content]}, reason="retracted")


def test_content_unpublished_within_the_window_voids():
    events = [published(1, 0), traffic(2, 1, 1500), unpublished(3, 10)]
    (unit,) = units_of(MARKETING, events, now_day=60)
    assert unit.state is UnitState.VOIDED
    assert unit.evidence == (1, 2, 3)


def test_content_unpublished_after_the_window_still_counts():
    events = [published(1, 0), traffic(2, 1, 1500), unpublished(3, 32)]
    (unit,) = units_of(MARKETING, events, now_day=60)
    assert unit.state is UnitState.COMPLETED


def test_other_content_unpublished_does_not_void():
    events = [published(1, 0), traffic(2, 1, 1500), unpublished(3, 10, content="blog/b")]
    (unit,) = units_of(MARKETING, events, now_day=60)
    assert unit.state is UnitState.COMPLETED


def test_traffic_after_thirty_days_does_not_count():
    events = [published(1, 0), traffic(2, 1, 600), traffic(3, 31, 600)]
    (unit,) = units_of(MARKETING, events, now_day=40)
    assert unit.state is UnitState.EXPIRED


def test_traffic_to_other_content_does_not_count():
    events = [published(1, 0), traffic(2, 1, 5000, content="blog/b")]
    (unit,) = units_of(MARKETING, events, now_day=40)
    assert unit.state is UnitState.EXPIRED


def test_visit_threshold_is_a_parameter():
    compiled = compile_definition(content_drove_traffic(visits_at_least=Decimal(100)).spec)
    (unit,) = units_of(compiled, [published(1, 0), traffic(2, 1, 150)], now_day=31)
    assert unit.state is UnitState.COMPLETED
