"""docs/events.md and docs/rules.md stay in step with the catalog and the engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

from awu.rules.catalog import EVENT_TYPES
from awu.rules.cel import check_condition, check_number

DOCS = Path(__file__).resolve().parents[3] / "docs"
EVENTS_MD = (DOCS / "events.md").read_text()
RULES_MD = (DOCS / "rules.md").read_text()


def json_examples() -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", EVENTS_MD, re.S)]


def test_every_canonical_type_has_a_section():
    for event_type in EVENT_TYPES:
        assert re.search(rf"^### .*`{re.escape(event_type)}`", EVENTS_MD, re.M), event_type


def test_every_catalog_attribute_is_documented_with_its_type():
    for spec in EVENT_TYPES.values():
        for name in spec.attributes:
            assert re.search(rf"^\| `{name}` \| \w+ \|", EVENTS_MD, re.M), (spec.type, name)


def test_every_canonical_type_has_a_full_json_example():
    documented = {example.get("type") for example in json_examples()}
    assert set(EVENT_TYPES) <= documented


def test_examples_carry_the_required_refs_and_documented_attribute_types():
    for example in json_examples():
        spec = EVENT_TYPES.get(example.get("type", ""))
        if spec is None:
            continue  # the token-usage record
        assert {"source", "id", "type", "occurred_at"} <= example.keys()
        for kind in spec.required_refs:
            assert kind in example["refs"], (example["type"], kind)
        for name, value in example["attributes"].items():
            if name in spec.attributes:
                assert type(value) is type(spec.attributes[name]), (example["type"], name)


def test_expression_examples_in_the_rules_guide_pass_the_save_checks():
    block = re.search(r"Examples:\n\n```\n(.*?)```", RULES_MD, re.S)
    assert block is not None
    expressions = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(expressions) >= 5
    for expr in expressions[:-1]:
        assert check_condition(expr) == [], expr
    assert check_number(expressions[-1]) == []
