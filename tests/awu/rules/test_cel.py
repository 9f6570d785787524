"""Expressions are checked when a definition is saved, with positions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from awu.rules.cel import (
    CelError,
    CelProblem,
    check_condition,
    check_number,
    event_map,
    program_for,
)
from awu.rules.spec import Event


def test_syntax_error_reports_its_line_and_column():
    (problem,) = check_condition("event.attributes.base_branch == ")
    assert (problem.line, problem.column) == (1, 33)
    assert problem.message.startswith("Syntax error: mismatched input '<EOF>'")


def test_syntax_error_on_a_later_line_reports_that_line():
    (problem,) = check_condition('event.type == "x" &&\n  !event.attributes.draft )')
    assert (problem.line, problem.column) == (2, 27)
    assert "extraneous input ')'" in problem.message


def test_unsupported_syntax_reports_its_position():
    (problem,) = check_condition("event.attributes.?draft")
    assert (problem.line, problem.column) == (1, 17)


def test_adding_a_string_to_a_number_is_a_type_error():
    (problem,) = check_condition('event.attributes.additions + "x"', event_type="code.pr.merged")
    assert problem == CelProblem(
        "on a code.pr.merged event: No such overload: "
        "the operation is not defined for the given operand types"
    )


def test_condition_giving_a_number_is_refused():
    (problem,) = check_condition("event.attributes.additions", event_type="code.pr.merged")
    assert "must be true or false" in problem.message
    assert "an int" in problem.message


def test_unknown_function_is_refused_at_its_position():
    (problem,) = check_condition('event.type == "x" &&\n  lower(event.actor) == "a"')
    assert problem == CelProblem("unknown function 'lower'", 2, 3)


def test_misspelt_variable_is_refused_at_its_position():
    (problem,) = check_condition('evnt.type == "code.pr.merged"')
    assert problem == CelProblem("unknown variable 'evnt' (use event or trigger)", 1, 1)


def test_comprehension_variables_are_not_unknown():
    expr = "event.refs.commit.exists(c, c in trigger.refs.commit)"
    assert check_condition(expr, event_type="code.reverted", trigger_type="code.pr.merged") == []


def test_missing_attribute_is_not_a_problem():
    assert check_condition('event.attributes.labels == "x"', event_type="code.pr.merged") == []


def test_good_conditions_pass():
    good = [
        'event.attributes.base_branch == "main" && !event.attributes.draft',
        "event.attributes.to_order > event.attributes.from_order || event.attributes.won",
        'has(event.ai.assisted) && event.ai.share >= 0.5 && event.actor.endsWith("@example.com")',
        "event.occurred_at < trigger.occurred_at + duration('72h')",
        'event.attributes.environment in ["production", "prod"]',
    ]
    for expr in good:
        assert check_condition(expr) == [], expr


def test_condition_checked_against_the_expected_type_only():
    # additions is a number on a merged PR; on a deploy it is simply absent.
    assert check_condition("event.attributes.additions > 100", event_type="deploy.succeeded") == []


def test_empty_expression_is_refused():
    assert check_condition("  ") == [CelProblem("expression is empty", 1, 1)]


def test_number_expression_may_give_an_int_or_a_double():
    assert check_number("event.attributes.visits", event_type="content.traffic") == []
    assert check_number("double(event.attributes.additions) / 100.0") == []


def test_number_expression_giving_a_string_is_refused():
    (problem,) = check_number("event.attributes.url", event_type="content.traffic")
    assert "must give a number" in problem.message


def test_number_expression_giving_a_bool_is_refused():
    (problem,) = check_number("event.attributes.draft", event_type="code.pr.merged")
    assert "a bool" in problem.message


def test_program_for_compiles_once():
    assert program_for("1 + 1 == 2") is program_for("1 + 1 == 2")


def test_program_for_raises_with_positions():
    with pytest.raises(CelError) as caught:
        program_for("event.")
    assert caught.value.problems[0].line == 1


def test_event_without_ai_information_gives_an_empty_ai_map():
    event = Event(id=1, type="x.a", occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert event_map(event)["ai"] == {}
    assert program_for("has(event.ai.assisted)").execute({"event": event_map(event)}) is False
