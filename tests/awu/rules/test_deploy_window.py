"""Deploy-window attribution: an incident on a service goes to the changes of the
latest production deploy of that service in the hours before it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from awu.definitions.defaults import durable_change
from awu.rules.engine import compile_definition, evaluate
from awu.rules.spec import Event, Method, UnitResult, UnitState, Voids
from tests.awu.rules.builders import day, deployed, ev, merged

COMPILED = compile_definition(durable_change().spec)
HOUR = 1 / 24


def on(service: str | None, event: Event) -> Event:
    return replace(event, service=service)


def deploy(event_id: int, at: float, deploy_id: str, commits: list[str], **attrs: str) -> Event:
    return on("api", deployed(event_id, at, deploy_id, commits, **attrs))


def incident(event_id: int, at: float, key: str = "P1", service: str | None = "api") -> Event:
    return on(service, ev(event_id, "incident.opened", at, {"incident": [key]}, severity="SEV2"))


def units(events: list[Event], compiled=COMPILED) -> dict[int, UnitResult]:
    return {u.trigger_id: u for u in evaluate(compiled, events, day(60))}


def test_incident_on_the_service_within_the_window_after_a_one_change_deploy_voids_it():
    events = [merged(1, 0, "acme/api#1", ["c1"]), deploy(2, 1, "d1", ["c1"]), incident(3, 1.5)]
    unit = units(events)[1]
    assert unit.state is UnitState.VOIDED
    assert unit.reason == "voided by incident.opened (event 3) via deploy-window"
    assert unit.evidence == (1, 2, 3)
    (attribution,) = unit.attributions
    assert (attribution.incident, attribution.method) == ("incident:P1", Method.DEPLOY_WINDOW)
    assert (attribution.deploy_id, attribution.shared, attribution.voids) == (2, False, True)
    assert unit.windows == (("api", day(1), day(2)),)


def test_incident_after_the_window_is_not_attributed():
    events = [merged(1, 0, "acme/api#1", ["c1"]), deploy(2, 1, "d1", ["c1"]), incident(3, 2.01)]
    unit = units(events)[1]
    assert (unit.state, unit.attributions) == (UnitState.COMPLETED, ())


def test_incident_on_another_service_or_on_none_is_not_attributed():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deploy(2, 1, "d1", ["c1"]),
        incident(3, 1.2, "P1", service="billing"),
        incident(4, 1.3, "P2", service=None),
    ]
    unit = units(events)[1]
    assert (unit.state, unit.attributions) == (UnitState.COMPLETED, ())


def test_a_staging_deploy_attributes_nothing():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deploy(2, 1, "d1", ["c1"]),
        deploy(3, 1.1, "s1", ["c1"], environment="staging"),
        incident(4, 1.2),
    ]
    # The staging deploy is not "a later deploy": production d1 keeps the blame.
    assert units(events)[1].attributions[0].deploy_id == 2


def test_every_change_of_a_shared_deploy_is_attributed_and_none_voided_by_default():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        merged(2, 0, "acme/api#2", ["c2"]),
        deploy(3, 1, "d1", ["c1", "c2"]),
        incident(4, 1.5),
    ]
    found = units(events)
    for trigger in (1, 2):
        assert found[trigger].state is UnitState.COMPLETED
        (attribution,) = found[trigger].attributions
        assert (attribution.shared, attribution.voids) == (True, False)


def test_the_latest_deploy_before_the_incident_takes_the_blame():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        merged(2, 0, "acme/api#2", ["c2"]),
        deploy(3, 1, "d1", ["c1"]),
        deploy(4, 1 + 6 * HOUR, "d2", ["c2"]),
        incident(5, 1 + 12 * HOUR),
    ]
    found = units(events)
    assert (found[1].state, found[1].attributions) == (UnitState.COMPLETED, ())
    assert found[2].state is UnitState.VOIDED


def test_an_incident_before_the_later_deploy_stays_with_the_earlier_one():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        merged(2, 0, "acme/api#2", ["c2"]),
        deploy(3, 1, "d1", ["c1"]),
        incident(4, 1 + 2 * HOUR),
        deploy(5, 1 + 6 * HOUR, "d2", ["c2"]),
    ]
    found = units(events)
    assert found[1].state is UnitState.VOIDED
    assert found[2].attributions == ()


def test_an_explicit_attribution_of_the_same_incident_wins():
    events = [
        merged(1, 0, "acme/api#1", ["c1"]),
        deploy(2, 1, "d1", ["c1"]),
        incident(3, 1.2),
        ev(4, "incident.attributed", 1.3, {"incident": ["P1"], "commit": ["c1"]}),
    ]
    unit = units(events)[1]
    (attribution,) = unit.attributions
    assert (attribution.method, attribution.event_id) == (Method.EXPLICIT, 4)
    # The incident event itself opened earlier and voids first, via the window.
    assert unit.reason == "voided by incident.attributed (event 4) via explicit"


@pytest.mark.parametrize(
    ("voids", "sole_voided", "shared_voided", "explicit_voided"),
    [
        (Voids.NONE, False, False, False),
        (Voids.EXPLICIT, False, False, True),
        (Voids.SOLE, True, False, True),
        (Voids.ALL, True, True, True),
    ],
)
def test_the_rule_chooses_which_methods_void(
    voids: Voids, sole_voided: bool, shared_voided: bool, explicit_voided: bool
) -> None:
    compiled = compile_definition(durable_change(incident_voids=voids).spec)
    sole = [merged(1, 0, "a#1", ["c1"]), deploy(2, 1, "d1", ["c1"]), incident(3, 1.5)]
    shared = [merged(1, 0, "a#1", ["c1"]), deploy(2, 1, "d1", ["c1", "c9"]), incident(3, 1.5)]
    explicit = [
        merged(1, 0, "a#1", ["c1"]),
        deploy(2, 1, "d1", ["c1"]),
        ev(3, "incident.attributed", 3, {"incident": ["P1"], "pr": ["a#1"]}),
    ]
    for events, expected in (
        (sole, sole_voided),
        (shared, shared_voided),
        (explicit, explicit_voided),
    ):
        unit = units(events, compiled)[1]
        assert (unit.state is UnitState.VOIDED) == expected
        assert len(unit.attributions) == 1  # reported either way


def test_an_incident_after_the_survival_window_is_reported_but_does_not_void():
    compiled = compile_definition(durable_change(survive_days=1, incident_window_hours=48).spec)
    events = [merged(1, 0, "a#1", ["c1"]), deploy(2, 1, "d1", ["c1"]), incident(3, 2.5)]
    unit = units(events, compiled)[1]
    assert unit.state is UnitState.COMPLETED
    assert len(unit.attributions) == 1


@pytest.mark.parametrize("hours", [0, -1, 30 * 24 + 1])
def test_a_window_of_zero_or_over_thirty_days_is_refused(hours: int) -> None:
    with pytest.raises(ValueError, match=r"incidents\.window_hours"):
        compile_definition(durable_change(incident_window_hours=hours).spec)
