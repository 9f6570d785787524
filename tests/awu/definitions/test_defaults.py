"""The shipped definitions compile and pass the same checks a saved one does."""

from __future__ import annotations

from awu.definitions.defaults import DEFAULT_DEFINITIONS
from awu.rules.catalog import EVENT_TYPES
from awu.rules.cel import check_condition, check_number
from awu.rules.engine import compile_definition


def test_there_is_one_default_per_domain():
    domains = [d.spec.domain for d in DEFAULT_DEFINITIONS]
    assert sorted(domains) == ["engineering", "legal", "marketing", "sales", "support"]


def test_default_keys_are_unique():
    keys = [d.spec.key for d in DEFAULT_DEFINITIONS]
    assert len(set(keys)) == len(keys)


def test_defaults_compile():
    for definition in DEFAULT_DEFINITIONS:
        compile_definition(definition.spec)


def test_default_expressions_pass_the_save_time_checks():
    for definition in DEFAULT_DEFINITIONS:
        spec = definition.spec
        if spec.trigger_condition:
            assert check_condition(spec.trigger_condition, event_type=spec.trigger_type) == []
        for clause in (*spec.requires, *spec.disqualifiers):
            if clause.condition:
                problems = check_condition(
                    clause.condition, event_type=clause.type, trigger_type=spec.trigger_type
                )
                assert problems == [], (spec.key, clause.type)
            if clause.total:
                assert check_number(clause.total, event_type=clause.type) == []


def test_defaults_read_only_canonical_event_types():
    for definition in DEFAULT_DEFINITIONS:
        spec = definition.spec
        for event_type in (
            spec.trigger_type,
            *(c.type for c in spec.requires + spec.disqualifiers),
        ):
            assert event_type in EVENT_TYPES
