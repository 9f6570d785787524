"""Engine behaviour that does not belong to one default definition."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

import pytest

from awu.definitions.defaults import durable_change
from awu.rules.cel import CelError
from awu.rules.engine import (
    compile_definition,
    entry_delta,
    evaluate,
    evaluate_unit,
    gather_unit_events,
    ref_keys,
    relevant_types,
)
from awu.rules.spec import Clause, DefinitionSpec, Event, RefKey, ScoringWarning, UnitState
from tests.awu.rules.builders import day, deployed, ev, merged

DURABLE = compile_definition(durable_change().spec)


def spec(**overrides: object) -> DefinitionSpec:
    fields: dict[str, object] = {
        "key": "k",
        "version": 1,
        "domain": "engineering",
        "trigger_type": "x.done",
    }
    fields.update(overrides)
    return DefinitionSpec(**fields)  # type: ignore[arg-type]


def test_relevant_types_are_the_trigger_requirement_disqualifier_and_incident_types():
    assert relevant_types(DURABLE) == {
        "code.pr.merged",
        "deploy.succeeded",
        "code.reverted",
        "deploy.rolled_back",
        "incident.attributed",
        "incident.opened",
    }


def test_duplicate_delivery_counts_once():
    pr = merged(1, 0, "acme/api#1", ["c1"])
    assert evaluate(DURABLE, [pr, pr, pr], day(1)) == evaluate(DURABLE, [pr], day(1))


def test_unused_event_types_change_nothing():
    events = [merged(1, 0, "acme/api#1", ["c1"]), deployed(2, 1, "d1", ["c1"])]
    noise = [ev(10 + i, "x.usage", 1, {"commit": ["c1"], "session": ["s"]}) for i in range(5)]
    assert evaluate(DURABLE, events + noise, day(40)) == evaluate(DURABLE, events, day(40))


def test_results_come_in_trigger_id_order():
    events = [merged(5, 0, "p5", ["c5"]), merged(2, 1, "p2", ["c2"])]
    assert [u.trigger_id for u in evaluate(DURABLE, events, day(1))] == [2, 5]


def test_requirement_before_the_trigger_does_not_count():
    events = [merged(2, 1, "acme/api#1", ["c1"]), deployed(1, 0, "d1", ["c1"])]
    (unit,) = evaluate(DURABLE, events, day(5))
    assert unit.reason == "waiting for deploy.succeeded"


def test_trigger_is_never_its_own_disqualifier():
    compiled = compile_definition(
        spec(survive_days=1, disqualifiers=(Clause(type="x.done", link=("k",)),))
    )
    (unit,) = evaluate(compiled, [ev(1, "x.done", 0, {"k": ["a"]})], day(2))
    assert unit.state is UnitState.COMPLETED


def test_disqualifier_with_no_link_kinds_links_through_any_shared_ref():
    compiled = compile_definition(spec(survive_days=5, disqualifiers=(Clause(type="x.undone"),)))
    events = [ev(1, "x.done", 0, {"a": ["1"], "b": ["2"]}), ev(2, "x.undone", 1, {"b": ["2"]})]
    (unit,) = evaluate(compiled, events, day(9))
    assert unit.state is UnitState.VOIDED


def test_condition_that_fails_on_an_event_is_not_holding_and_is_reported():
    compiled = compile_definition(spec(trigger_condition="event.attributes.size > 3"))
    warnings: list[ScoringWarning] = []
    events = [ev(1, "x.done", 0, size=5), ev(2, "x.done", 0)]
    units = evaluate(compiled, events, day(1), warnings=warnings)
    assert [u.trigger_id for u in units] == [1]
    assert warnings == [ScoringWarning(2, "event.attributes.size > 3", "no such key: size")]


def test_clause_error_is_carried_on_the_unit():
    compiled = compile_definition(
        spec(
            requires=(
                Clause(type="x.check", condition='event.attributes.n + "x" == 1', within_days=3),
            )
        )
    )
    events = [ev(1, "x.done", 0, {"k": ["a"]}), ev(2, "x.check", 1, {"k": ["a"]}, n=1)]
    (unit,) = evaluate(compiled, events, day(1))
    assert unit.state is UnitState.PENDING
    assert [w.event_id for w in unit.warnings] == [2]


def test_non_boolean_condition_does_not_hold():
    compiled = compile_definition(spec(trigger_condition="event.attributes.n"))
    assert evaluate(compiled, [ev(1, "x.done", 0, n=1)], day(1)) == []


def test_units_expression_is_evaluated_on_the_trigger():
    compiled = compile_definition(spec(units="double(event.attributes.points) / 2.0"))
    (unit,) = evaluate(compiled, [ev(1, "x.done", 0, points=3)], day(1))
    assert unit.units == Decimal("1.5")


def test_units_expression_that_fails_is_worth_zero_with_a_warning():
    compiled = compile_definition(spec(units="event.attributes.points"))
    (unit,) = evaluate(compiled, [ev(1, "x.done", 0, points="many")], day(1))
    assert unit.units == Decimal(0)
    assert len(unit.warnings) == 1


def test_negative_units_are_worth_zero_with_a_warning():
    compiled = compile_definition(spec(units="0 - event.attributes.points"))
    (unit,) = evaluate(compiled, [ev(1, "x.done", 0, points=2)], day(1))
    assert unit.units == Decimal(0)
    assert unit.warnings


def test_bad_expression_is_rejected_at_compile_time_naming_the_field():
    with pytest.raises(CelError, match=r"requires\[0\]\.condition"):
        compile_definition(spec(requires=(Clause(type="x.a", condition="event.", within_days=1),)))


def test_negative_literal_units_are_rejected():
    with pytest.raises(ValueError, match="units"):
        compile_definition(spec(units="-1"))


def test_total_without_threshold_is_rejected():
    with pytest.raises(ValueError, match="at_least"):
        compile_definition(spec(requires=(Clause(type="x.a", total="1", within_days=1),)))


def test_completion_appends_plus_units():
    (unit,) = evaluate(compile_definition(spec(units="2")), [ev(1, "x.done", 0)], day(0))
    assert entry_delta(Decimal(0), unit) == Decimal(2)


def test_unchanged_credit_appends_nothing():
    (unit,) = evaluate(compile_definition(spec()), [ev(1, "x.done", 0)], day(0))
    assert entry_delta(Decimal(1), unit) is None


def test_reversal_appends_minus_units():
    compiled = compile_definition(spec(survive_days=1, disqualifiers=(Clause(type="x.undone"),)))
    events = [ev(1, "x.done", 0, {"k": ["a"]}), ev(2, "x.undone", 1, {"k": ["a"]})]
    (unit,) = evaluate(compiled, events, day(5))
    assert entry_delta(Decimal(1), unit) == Decimal(-1)


def test_evaluate_unit_matches_evaluate_for_one_trigger():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "deploy.rolled_back", 2, {"deploy": ["d1"]}),
    ]
    assert (
        evaluate_unit(DURABLE, events[0], events[1:], day(40))
        == evaluate(DURABLE, events, day(40))[0]
    )


def test_evaluate_unit_returns_none_for_a_trigger_whose_condition_fails():
    pr = merged(1, 0, "acme/api#1", ["c1"], draft=True)
    assert evaluate_unit(DURABLE, pr, [], day(1)) is None


def test_gather_follows_carried_refs_to_a_rollback_naming_only_the_deploy():
    pr = merged(1, 0, "acme/api#1", ["c1"])
    stored = [
        pr,
        deployed(2, 1, "d1", ["c1"]),
        ev(3, "deploy.rolled_back", 2, {"deploy": ["d1"]}),
        ev(4, "deploy.rolled_back", 2, {"deploy": ["d9"]}),
    ]
    asked: list[set[RefKey]] = []

    def find(keys: Collection[RefKey]) -> list[Event]:
        asked.append(set(keys))
        return [e for e in stored if ref_keys(e.refs) & set(keys)]

    gathered = gather_unit_events(DURABLE, pr, find)
    assert [e.id for e in gathered] == [2, 3]
    assert asked == [{("pr", "acme/api#1"), ("commit", "c1")}, {("deploy", "d1")}]
