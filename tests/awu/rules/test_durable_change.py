"""The engineering default: a merged change that reached production and stayed."""

from __future__ import annotations

from decimal import Decimal

from awu.definitions.defaults import durable_change
from awu.rules.engine import compile_definition, entry_delta, evaluate
from awu.rules.spec import Event, UnitResult, UnitState
from tests.awu.rules.builders import day, deployed, ev, merged

COMPILED = compile_definition(durable_change().spec)


def only(events: list[Event], now_day: float) -> UnitResult:
    results = evaluate(COMPILED, events, day(now_day))
    assert len(results) == 1
    return results[0]


def test_merged_pull_request_waits_for_a_deploy():
    unit = only([merged(1, 0, "acme/api#1", ["c1"])], now_day=1)
    assert unit.state is UnitState.PENDING
    assert unit.reason == "waiting for deploy.succeeded"
    assert unit.closes_at == day(14)


def test_merge_into_another_branch_is_not_a_unit():
    pr = merged(1, 0, "acme/api#1", ["c1"], base_branch="release-1.2")
    assert evaluate(COMPILED, [pr], day(1)) == []


def test_draft_pull_request_is_not_a_unit():
    pr = merged(1, 0, "acme/api#1", ["c1"], draft=True)
    assert evaluate(COMPILED, [pr], day(1)) == []


def test_deployed_change_is_pending_while_the_survival_window_is_open():
    unit = only([merged(1, 0, "acme/api#1", ["c1"]), deployed(2, 2, "d1", ["c1"])], now_day=10)
    assert unit.state is UnitState.PENDING
    assert unit.satisfied_at == day(2)
    assert unit.closes_at == day(32)
    assert unit.reason == "survival window open until 2026-12-03T12:00:00Z"


def test_change_that_survives_thirty_days_after_deploy_completes():
    unit = only([merged(1, 0, "acme/api#1", ["c1"]), deployed(2, 2, "d1", ["c1"])], now_day=32)
    assert unit.state is UnitState.COMPLETED
    assert unit.completed_at == day(32)
    assert unit.credit == Decimal(1)
    assert unit.evidence == (1, 2)


def test_completed_unit_is_attributed_to_the_trigger_actor():
    pr = merged(1, 0, "acme/api#1", ["c1"])
    deploy = ev(2, "deploy.succeeded", 2, {"deploy": ["d1"], "commit": ["c1"]}, actor="bot")
    unit = only([pr, deploy], now_day=40)
    assert (unit.actor, unit.person_id, unit.team_id) == ("alice@example.com", 7, 3)


def test_staging_deploy_does_not_count():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"], environment="staging"),
    ]
    assert only(events, now_day=5).reason == "waiting for deploy.succeeded"


def test_deploy_naming_no_environment_counts_as_production():
    deploy = ev(2, "deploy.succeeded", 1, {"deploy": ["d1"], "commit": ["c1"]})
    unit = only([merged(1, 0, "acme/api#1", ["c1"]), deploy], now_day=40)
    assert unit.state is UnitState.COMPLETED


def test_change_never_deployed_expires_after_fourteen_days():
    unit = only([merged(1, 0, "acme/api#1", ["c1"])], now_day=14)
    assert unit.state is UnitState.EXPIRED
    assert unit.reason == "deploy.succeeded not seen by 2026-11-15T12:00:00Z"
    assert unit.closes_at is None


def test_deploy_after_the_fourteen_day_window_does_not_count():
    events = [merged(1, 0, "acme/api#1", ["c1"]), deployed(2, 14.5, "d1", ["c1"])]
    assert only(events, now_day=60).state is UnitState.EXPIRED


def test_earliest_deploy_meets_the_requirement():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(3, 5, "d2", ["c1"]),
        deployed(2, 3, "d1", ["c1"]),
    ]
    unit = only(events, now_day=10)
    assert unit.satisfied_at == day(3)
    assert unit.refs["deploy"] == ("d1",)


def test_late_deploy_revives_an_expired_unit():
    pr = merged(1, 0, "acme/api#1", ["c1"])
    before = only([pr], now_day=40)
    after = only([pr, deployed(2, 5, "d1", ["c1"])], now_day=40)
    assert before.state is UnitState.EXPIRED
    assert after.state is UnitState.COMPLETED
    assert entry_delta(before.credit, after) == Decimal(1)


def test_revert_inside_the_window_voids_the_change():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "code.reverted", 20, {"commit": ["c1"]}),
    ]
    unit = only(events, now_day=40)
    assert unit.state is UnitState.VOIDED
    assert unit.reason == "voided by code.reverted (event 3)"
    assert unit.evidence == (1, 2, 3)


def test_revert_before_any_deploy_voids_the_change():
    events = [merged(1, 0, "acme/api#1", ["c1"]), ev(3, "code.reverted", 1, {"pr": ["acme/api#1"]})]
    assert only(events, now_day=2).state is UnitState.VOIDED


def test_revert_after_the_window_closed_does_not_void():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "code.reverted", 31.5, {"commit": ["c1"]}),
    ]
    assert only(events, now_day=40).state is UnitState.COMPLETED


def test_late_revert_that_occurred_inside_the_closed_window_reverses_the_completion():
    events = [merged(1, 0, "acme/api#1", ["c1"]), deployed(2, 1, "d1", ["c1"])]
    completed = only(events, now_day=40)
    voided = only([*events, ev(3, "code.reverted", 25, {"commit": ["c1"]})], now_day=40)
    assert completed.state is UnitState.COMPLETED
    assert voided.state is UnitState.VOIDED
    assert entry_delta(completed.credit, voided) == Decimal(-1)


def test_revert_of_another_commit_does_not_void():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1", "c2"]),
        ev(3, "code.reverted", 5, {"commit": ["c2"]}),
    ]
    assert only(events, now_day=40).state is UnitState.COMPLETED


def test_rollback_naming_only_the_deploy_voids_through_the_carried_deploy_ref():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "deploy.rolled_back", 2, {"deploy": ["d1"]}, environment="production"),
    ]
    assert only(events, now_day=40).state is UnitState.VOIDED


def test_rollback_of_another_deploy_does_not_void():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "deploy.rolled_back", 2, {"deploy": ["d9"]}, environment="production"),
    ]
    assert only(events, now_day=40).state is UnitState.COMPLETED


def _two_prs_in_one_deploy(incident_refs: dict[str, list[str]]) -> list[UnitResult]:
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        merged(2, 0, "acme/api#2", ["c2"]),
        deployed(3, 1, "d1", ["c1", "c2"]),
        ev(4, "incident.attributed", 3, {"incident": ["P1"], **incident_refs}),
    ]
    return evaluate(COMPILED, events, day(40))


def test_incident_attributed_to_another_pull_request_in_the_same_deploy_does_not_void():
    first, second = _two_prs_in_one_deploy({"pr": ["acme/api#2"], "deploy": ["d1"]})
    assert first.state is UnitState.COMPLETED
    assert second.state is UnitState.VOIDED


def test_incident_attributed_to_a_commit_voids_only_the_change_holding_it():
    first, second = _two_prs_in_one_deploy({"commit": ["c1"]})
    assert (first.state, second.state) == (UnitState.VOIDED, UnitState.COMPLETED)


def test_incident_attributed_to_the_deploy_voids_every_change_it_shipped():
    first, second = _two_prs_in_one_deploy({"deploy": ["d1"]})
    assert (first.state, second.state) == (UnitState.VOIDED, UnitState.VOIDED)


def test_unattributed_incident_does_not_void():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "incident.opened", 3, {"incident": ["P1"]}),
    ]
    assert only(events, now_day=40).state is UnitState.COMPLETED
