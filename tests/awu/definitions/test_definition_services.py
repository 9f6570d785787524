"""Definition services: checking, drafting, publishing and installing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from awu.definitions.defaults import DEFAULT_DEFINITIONS
from awu.definitions.models import (
    BEGINNING_OF_TIME,
    Definition,
    DefinitionVersion,
    version_fields_from_spec,
)
from awu.definitions.services import (
    SHIPPED_NOTE,
    InvalidVersion,
    definition_publish,
    definitions_install_defaults,
    version_draft_from,
    version_from_spec,
    version_problems,
    version_update,
)
from tests.conftest import approval_off

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_wakeups(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""


@pytest.fixture(autouse=True)
def _publish_without_approval(db: None) -> None:
    # Publishing and rescoring themselves; four eyes: tests/awu/definitions/test_four_eyes.py.
    approval_off()


@pytest.fixture
def definition() -> Definition:
    return Definition.objects.create(key="shipped", name="Shipped", domain="engineering")


def draft(definition: Definition, **rules: Any) -> DefinitionVersion:
    fields: dict[str, Any] = {"trigger_type": "code.pr.merged", **rules}
    number = definition.versions.count() + 1
    return DefinitionVersion.objects.create(definition=definition, version=number, **fields)


def test_every_shipped_definition_round_trips_through_a_stored_version(
    definition: Definition,
) -> None:
    for default in DEFAULT_DEFINITIONS:
        stored = Definition.objects.create(
            key=default.spec.key, name=default.name, domain=default.spec.domain
        )
        version = version_from_spec(definition=stored, spec=default.spec)
        assert version.spec() == default.spec


def test_syntax_error_is_reported_with_line_and_column(definition: Definition) -> None:
    version = draft(definition, trigger_condition="event.attributes.draft ==")
    problems = version_problems(version)
    assert problems["trigger_condition"][0].startswith("line 1, column ")


def test_unknown_function_in_a_requirement_is_reported_with_its_clause(
    definition: Definition,
) -> None:
    version = draft(
        definition,
        requires=[{"type": "deploy.succeeded", "condition": "lower(event.type) == 'x'"}],
    )
    assert version_problems(version)["requires"] == [
        "requires[0].condition: line 1, column 1: unknown function 'lower'"
    ]


def test_condition_that_is_not_a_bool_is_a_problem(definition: Definition) -> None:
    version = draft(definition, trigger_condition="event.attributes.additions + 1")
    assert "must be true or false" in version_problems(version)["trigger_condition"][0]


def test_malformed_clause_is_a_problem_not_a_crash(definition: Definition) -> None:
    version = draft(definition, disqualifiers=[{"type": "code.reverted", "within": 3}])
    assert version_problems(version) == {
        "disqualifiers": ["disqualifiers[0] has unknown keys: within"]
    }


def test_units_expression_must_give_a_number(definition: Definition) -> None:
    version = draft(definition, units="event.attributes.base_branch")
    assert "must give a number" in version_problems(version)["units"][0]


def test_valid_version_has_no_problems(definition: Definition) -> None:
    version = draft(
        definition,
        trigger_condition="event.attributes.base_branch == event.attributes.default_branch",
        units="event.attributes.additions > 100 ? 2 : 1",
    )
    assert version_problems(version) == {}


def test_publish_refuses_a_version_with_invalid_cel(definition: Definition) -> None:
    version = draft(definition, trigger_condition="event.attributes.(")
    with pytest.raises(InvalidVersion) as caught:
        definition_publish(version=version, now=NOW)
    assert "trigger_condition" in caught.value.problems
    version.refresh_from_db()
    assert version.status == "draft"


def test_publish_dates_the_version_and_covers_from_now_by_default(definition: Definition) -> None:
    version = definition_publish(version=draft(definition), now=NOW)
    assert (version.status, version.published_at, version.covers_from) == ("published", NOW, NOW)


def test_draft_from_a_version_copies_its_rules_under_the_next_number(
    definition: Definition,
) -> None:
    first = definition_publish(version=draft(definition, survive_days=30), now=NOW)
    copy = version_draft_from(version=first)
    assert (copy.version, copy.status, copy.survive_days) == (2, "draft", 30)


def test_draft_can_be_edited(definition: Definition) -> None:
    version = version_update(version=draft(definition), survive_days=9)
    version.refresh_from_db()
    assert version.survive_days == 9


def test_installing_the_defaults_twice_creates_them_once() -> None:
    assert len(definitions_install_defaults(now=NOW)) == len(DEFAULT_DEFINITIONS)
    assert definitions_install_defaults(now=NOW) == []
    assert DefinitionVersion.objects.filter(status="published").count() == len(DEFAULT_DEFINITIONS)


def test_installing_the_defaults_leaves_an_edited_definition_alone() -> None:
    definitions_install_defaults(now=NOW)
    v1 = DefinitionVersion.objects.get(definition__key="resolution")
    v2 = definition_publish(version=version_draft_from(version=v1), now=NOW)
    definitions_install_defaults(now=NOW + timedelta(days=1))
    assert list(
        DefinitionVersion.objects.filter(definition__key="resolution").values_list("pk", flat=True)
    ) == [v2.pk, v1.pk]


def _install_as_an_older_release_did(key: str, **old_rules: Any) -> DefinitionVersion:
    shipped = next(d for d in DEFAULT_DEFINITIONS if d.spec.key == key)
    fields = {**version_fields_from_spec(shipped.spec), **old_rules}
    definition = Definition.objects.create(
        key=key, name=shipped.name, domain=shipped.spec.domain, description="older"
    )
    return DefinitionVersion.objects.create(
        definition=definition,
        version=1,
        status="published",
        published_at=NOW,
        covers_from=BEGINNING_OF_TIME,
        note=SHIPPED_NOTE,
        **fields,
    )


def test_an_install_of_an_older_shipped_version_gets_the_new_one_published_beside_it() -> None:
    old = _install_as_an_older_release_did("contract-signed", survive_days=0, disqualifiers=[])
    later = NOW + timedelta(days=3)

    installed = definitions_install_defaults(now=later)

    assert "contract-signed" in installed
    assert "resolution" in installed

    old.refresh_from_db()
    assert (old.survive_days, old.disqualifiers, old.status) == (0, [], "published")
    new = DefinitionVersion.objects.get(definition__key="contract-signed", version=2)
    assert (new.status, new.covers_from, new.survive_days) == ("published", later, 30)
    assert new.disqualifiers == [{"type": "contract.cancelled", "link": ["envelope"]}]
    assert definitions_install_defaults(now=later + timedelta(days=1)) == []


def test_a_team_version_published_over_the_shipped_one_is_not_replaced() -> None:
    old = _install_as_an_older_release_did("content-drove-traffic", survive_days=0)
    own = definition_publish(version=version_draft_from(version=old), now=NOW)
    assert "content-drove-traffic" not in definitions_install_defaults(now=NOW + timedelta(days=1))
    assert DefinitionVersion.objects.filter(definition__key="content-drove-traffic").count() == 2
    assert own.note != SHIPPED_NOTE


@pytest.mark.parametrize(
    ("incidents", "problem"),
    [
        ({"window_hours": 0}, "incidents.window_hours must be more than 0"),
        ({"window_hours": 721}, "at most 720 hours (30 days)"),
        ({"window_hours": "24"}, "incidents.window_hours must be a whole number of hours"),
        ({"voids": "sometimes"}, "incidents.voids must be one of"),
        ({"window": 24}, "incidents has unknown keys: window"),
        ([24], "incidents must be an object"),
    ],
)
def test_a_bad_incident_rule_is_refused_with_the_field_named(
    definition: Definition, incidents: Any, problem: str
) -> None:
    version = draft(definition, incidents=incidents)
    problems = version_problems(version)
    assert list(problems) == ["incidents"]
    assert problem in problems["incidents"][0]
    with pytest.raises(InvalidVersion):
        definition_publish(version=version, now=NOW)


def test_a_thirty_day_deploy_window_is_accepted(definition: Definition) -> None:
    version = draft(definition, incidents={"window_hours": 720, "voids": "all"})
    assert version_problems(version) == {}
