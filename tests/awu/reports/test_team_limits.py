"""Reads limited to teams (issue 16): a key or a viewer limited to team A reads
exactly what the unlimited reader reads of a data set that holds only A's records.

Team A is ``alpha`` with a sub-team (``alpha-sub``) and a team merged into it
(``alpha-old``); B is ``beta``; some records have no team. The data set is built
in two steps: A's records first (the unlimited key's answers are taken then: the
oracle), then B's and the teamless ones, among them an A person's spend naming
team B, a B person's spend on A's pull request and B's definition published in
the period. After the second step, the key limited to A and a viewer limited to
A must answer exactly the oracle, for every report, grouping, CSV and work unit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from awu.definitions.models import Definition, DefinitionVersion
from awu.reports.query import ReportQuery
from awu.reports.selectors import efficiency_report, spend_deciles
from awu.scoring.models import WorkUnit
from ledger import access, auth
from ledger.models import Person, Team
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}  # whole month: the monthly rollups
MID = {"from": "2026-03-05", "to": "2026-03-20"}  # daily rollups
RAW = {**MARCH, "as_of": "2030-01-01"}  # the raw tables
PERIODS = (MARCH, MID, RAW)
DIMENSIONS = (
    "team",
    "department",
    "cost_centre",
    "person",
    "domain",
    "definition",
    "model",
    "week",
    "month",
)


@dataclass
class World:
    alpha: Team
    beta: Team
    a_unit: WorkUnit  # sam's, whose PR bob's spend also reaches
    b_unit: WorkUnit
    loose_unit: WorkUnit  # no team


def _team(slug: str, **fields: Any) -> Team:
    return Team.objects.create(slug=slug, name=slug, **{"domain": "engineering", **fields})


def build_alpha() -> dict[str, Any]:
    """Team A (with its sub-team and the team merged into it) and its records."""
    alpha = _team("alpha", cost_centre="CC-A")
    _team("alpha-sub", parent=alpha)
    _team("alpha-old", merged_into=alpha)
    _team("alpha-ops", parent=alpha, domain="operations")
    ann = build.person("ann", team_slug="alpha")
    sam = build.person("sam", team_slug="alpha-sub")
    mo = build.person("mo", team_slug="alpha-old")
    olga = build.person("olga", team_slug="alpha-ops")
    shipped = build.definition("shipped")
    own = build.definition("alpha-fix")
    Definition.objects.filter(key="alpha-fix").update(owner_team=alpha)
    waiting = build.definition("alpha-wait", survive_days=30)
    Definition.objects.filter(key="alpha-wait").update(owner_team=alpha)
    build.unit(shipped, owner=ann, units="2", triggered_at=build.at(2))
    build.unit(own, owner=ann, units="1", triggered_at=build.at(12), ai_assisted=True)
    a_unit = build.unit(
        shipped, owner=sam, units="3", triggered_at=build.at(9), refs={"pr": ["alpha/1"]}
    )
    build.unit(shipped, owner=mo, units="1.5", triggered_at=build.at(16), ai_assisted=False)
    build.unit(own, owner=olga, units="1", triggered_at=build.at(18))
    build.unit(
        shipped,
        owner=sam,
        state="voided",
        units="1",
        triggered_at=build.at(10),
        reason="voided by incident.opened (event 1)",
    )
    for day, who in ((3, ann), (7, sam), (11, mo), (19, olga)):
        build.unit(
            waiting,
            owner=who,
            state="completed",
            units="1",
            triggered_at=build.at(day - 1, month=2),
        )
    build.unit(
        waiting, owner=ann, state="pending", units="2", triggered_at=build.at(20),
        satisfied_at=build.at(21),
    )  # fmt: skip
    for who, cost, day, model in (
        (ann, "5.00", 2, "claude-opus-4-5"),
        (ann, None, 3, "claude-opus-4-5"),
        (sam, "2.00", 9, "gpt-5"),
        (mo, "1.50", 16, "claude-opus-4-5"),
        (olga, "4.25", 18, "gpt-5"),
    ):
        build.usage(
            actor=build.actor_of(who), cost=cost, occurred_at=build.at(day), model=model,
            refs={"pr": ["alpha/1"]} if who is sam else None,
        )  # fmt: skip
    return {"alpha": alpha, "a_unit": a_unit}


def build_others() -> dict[str, Any]:
    """Team B's records and records of no team, some crossing into A's."""
    beta = _team("beta", cost_centre="CC-B")
    bob = build.person("bob", team_slug="beta")
    ann = Person.objects.get(name="ann")
    nina = build.person("nina")  # no team at all
    shipped = build.definition("shipped")
    theirs = build.definition("beta-fix")
    Definition.objects.filter(key="beta-fix").update(owner_team=beta)
    DefinitionVersion.objects.create(
        definition=Definition.objects.get(key="beta-fix"),
        version=2,
        status="published",
        trigger_type="code.pr.merged",
        covers_from=build.T0,
        published_at=build.at(10),
    )
    waiting = build.definition("alpha-wait", survive_days=30)
    b_unit = build.unit(theirs, owner=bob, units="4", triggered_at=build.at(4))
    build.unit(shipped, owner=bob, units="6", triggered_at=build.at(14), ai_assisted=True)
    build.unit(shipped, owner=ann, team_=beta, units="2", triggered_at=build.at(15))
    build.unit(
        shipped,
        owner=bob,
        state="voided",
        units="1",
        triggered_at=build.at(13),
        reason="voided by code.pr.reverted (event 2)",
    )
    # B's settled history of A's waiting definition: would move A's projection.
    for day in range(1, 9):
        build.unit(
            waiting, owner=bob, state="voided", units="1", triggered_at=build.at(day, month=2)
        )
    build.unit(
        waiting, owner=bob, state="pending", units="5", triggered_at=build.at(21),
        satisfied_at=build.at(22),
    )  # fmt: skip
    loose_unit = build.unit(shipped, actor="ghost@example.com", units="9", triggered_at=build.at(6))
    for actor, cost, day, team_slug, refs in (
        (build.actor_of(bob), "11.00", 9, None, {"pr": ["alpha/1"]}),
        (build.actor_of(bob), "3.00", 17, None, None),
        (build.actor_of(ann), "7.00", 8, "beta", None),  # an A person, spending for B
        ("ghost@example.com", "9.00", 5, None, None),  # mapped to nobody
        (build.actor_of(nina), "3.50", 12, None, None),  # a person of no team
        (build.actor_of(ann), "2.00", 13, "nowhere", None),  # names a team that is none
    ):
        build.usage(
            actor=actor, cost=cost, occurred_at=build.at(day), team_slug=team_slug, refs=refs
        )
    return {"beta": beta, "b_unit": b_unit, "loose_unit": loose_unit}


def requests() -> list[tuple[str, dict[str, Any]]]:
    """Every report read, with every grouping, over the three read paths."""
    out: list[tuple[str, dict[str, Any]]] = []
    for period in PERIODS:
        out.append(("/api/v1/reports/efficiency", period))
        for dimension in DIMENSIONS:
            out.append(("/api/v1/reports/efficiency", {**period, "group_by": dimension}))
        out.append(("/api/v1/reports/efficiency", {**period, "group_by": "team,person"}))
        out.append(("/api/v1/reports/efficiency", {**period, "group_by": "department,week"}))
        out.append(("/api/v1/reports/efficiency", {**period, "team": "alpha-sub"}))
        out.append(
            ("/api/v1/reports/efficiency", {**period, "group_by": "person", "ai": "assisted"})
        )
        out.append(("/api/v1/reports/spend-deciles", period))
        out.append(("/api/v1/reports/spend-deciles", {**period, "by": "team"}))
        for interval in ("week", "month"):
            out.append(("/api/v1/reports/trend", {**period, "interval": interval}))
        out.append(
            ("/api/v1/reports/efficiency", {**period, "group_by": "person", "format": "csv"})
        )
        out.append(("/api/v1/reports/spend-deciles", {**period, "format": "csv"}))
        out.append(("/api/v1/reports/trend", {**period, "interval": "week", "format": "csv"}))
    for params in ({}, MARCH, {"state": "voided"}, {"team": "alpha"}, {"format": "csv"}):
        out.append(("/api/v1/work-units", {**params, "limit": "500"}))
    out.append(("/api/v1/definitions", {}))
    return out


def _body(response: Any) -> Any:
    assert response.status_code == 200, (response.status_code, response.content[:500])
    if response["Content-Type"].startswith("text/csv"):
        return response.content.decode()
    return response.json()


def _build(client: Client, key: str, *, oracle: bool) -> tuple[World, dict[Any, Any]]:
    a = build_alpha()
    answers: dict[Any, Any] = {}
    if oracle:
        every = Api(client, key)
        for path, params in requests():
            answers[(path, tuple(sorted(params.items())))] = _body(every.get(path, params))
        unit = a["a_unit"].pk
        answers[("unit", unit)] = _body(every.get(f"/api/v1/work-units/{unit}"))
    others = build_others()
    data = World(a["alpha"], others["beta"], a["a_unit"], others["b_unit"], others["loose_unit"])
    return data, answers


@pytest.fixture(autouse=True)
def _pinned(settings: Any) -> None:
    settings.AWU_REPORTS_DURABILITY_MIN_UNITS = 3
    settings.AWU_NOW = "2026-04-02T12:00:00Z"


@pytest.fixture
def world(
    make_key: Callable[..., str], client: Client, request: Any
) -> tuple[World, dict[Any, Any]]:
    """The data set, and (for the tests that compare with it) the oracle: the
    unlimited key's answers over A's records alone."""
    oracle = request.function.__name__ in ORACLE_TESTS
    return _build(client, make_key("reports:read"), oracle=oracle)


ORACLE_TESTS = {
    "test_a_key_limited_to_a_team_reads_exactly_that_teams_numbers",
    "test_a_viewer_limited_to_a_team_reads_exactly_that_teams_numbers",
    "test_another_teams_work_unit_is_not_found_and_tied_spend_is_the_teams_own",
}


def _limited_key(*teams: Team) -> str:
    _, key = auth.api_key_create(name="limited", scopes=["reports:read"], teams=list(teams))
    return key


@pytest.fixture
def limited(world: tuple[World, dict[Any, Any]], client: Client) -> Api:
    return Api(client, _limited_key(world[0].alpha))


@pytest.fixture
def viewer(world: tuple[World, dict[Any, Any]]) -> Client:
    user = User.objects.create_user("alpha-viewer", password="a long pass phrase")
    access.grant(user=user, role=access.VIEWER, team=world[0].alpha)
    client = Client()
    client.force_login(user)
    return client


def test_a_key_limited_to_a_team_reads_exactly_that_teams_numbers(
    world: tuple[World, dict[Any, Any]], limited: Api, make_key: Callable[..., str], client: Client
) -> None:
    _data, oracle = world
    every = Api(client, make_key("reports:read"))
    differs = 0
    for path, params in requests():
        expected = oracle[(path, tuple(sorted(params.items())))]
        assert _body(limited.get(path, params)) == expected, (path, params)
        differs += _body(every.get(path, params)) != expected
    # The data set does hold other teams' rows: the unlimited key sees them.
    assert differs > len(requests()) * 3 // 4


def test_a_viewer_limited_to_a_team_reads_exactly_that_teams_numbers(
    world: tuple[World, dict[Any, Any]], viewer: Client
) -> None:
    _, oracle = world
    for path, params in requests():
        expected = oracle[(path, tuple(sorted(params.items())))]
        assert _body(viewer.get(path, params)) == expected, (path, params)


def test_another_teams_work_unit_is_not_found_and_tied_spend_is_the_teams_own(
    world: tuple[World, dict[Any, Any]], limited: Api, viewer: Client
) -> None:
    data, oracle = world
    for reader in (limited, viewer):
        for unit in (data.b_unit, data.loose_unit):
            response = reader.get(f"/api/v1/work-units/{unit.pk}")
            assert response.status_code == 404, unit
            assert response.json() == reader.get("/api/v1/work-units/999999999").json()
        # bob's spend on sam's PR is B's: left out of A's unit.
        assert (
            _body(reader.get(f"/api/v1/work-units/{data.a_unit.pk}"))
            == oracle[("unit", data.a_unit.pk)]
        )
    assert oracle[("unit", data.a_unit.pk)]["spend_tied"]["token_cost_usd"] == "2.000000000"


@pytest.mark.parametrize("team", ["beta", "nowhere-at-all"])
def test_an_explicit_team_outside_the_limits_is_refused_naming_it(
    world: tuple[World, dict[Any, Any]], limited: Api, viewer: Client, team: str
) -> None:
    for reader in (limited, viewer):
        for path, params in (
            ("/api/v1/reports/efficiency", {**MARCH, "team": team}),
            ("/api/v1/reports/efficiency", {**MARCH, "team": team, "group_by": "person"}),
            ("/api/v1/reports/spend-deciles", {**MARCH, "team": team}),
            ("/api/v1/reports/trend", {**MARCH, "team": team}),
            ("/api/v1/work-units", {"team": team}),
            ("/api/v1/events", {"team": team}),
            ("/api/v1/token-usage", {"team": team}),
        ):
            if reader is viewer and path in ("/api/v1/events", "/api/v1/token-usage"):
                continue  # the ledger listings take no session
            response = reader.get(path, params)
            assert response.status_code == 403, (path, params)
            body = response.json()
            assert body["type"] == "permission_denied"
            assert team in body["detail"]


def test_a_limited_deciles_rank_only_the_teams_people(
    world: tuple[World, dict[Any, Any]], limited: Api
) -> None:
    rows = _body(limited.get("/api/v1/reports/spend-deciles", MARCH))["results"]
    # ann, sam, mo, olga: four people, whatever B and the teamless records hold.
    assert sum(r["people"] for r in rows) == 4


def test_the_incidents_report_counts_only_the_teams_units(
    world: tuple[World, dict[Any, Any]], limited: Api, make_key: Callable[..., str], client: Client
) -> None:
    data, _ = world
    for unit, incident in ((data.a_unit, "incident:A-1"), (data.b_unit, "incident:B-1")):
        WorkUnit.objects.filter(pk=unit.pk).update(
            incident_keys=[incident],
            attributions=[{"incident": incident, "method": "explicit", "at": "2026-03-20T00:00:00Z",
                           "shared": False, "voids": False}],
        )  # fmt: skip
    rows = _body(limited.get("/api/v1/reports/incidents", MARCH))["results"]
    assert [(r["method"], r["incidents"], r["denominators"]) for r in rows] == [
        ("explicit", 1, {"incidents_attributed": 1}),
        ("deploy-window", 0, {"incidents_attributed": 1}),
    ]
    every = _body(Api(client, make_key("reports:read")).get("/api/v1/reports/incidents", MARCH))
    assert every["results"][0]["incidents"] == 2
    assert [r["method"] for r in every["results"]][-1] == "unattributed"


def test_the_ledger_listings_hold_only_the_teams_records(
    world: tuple[World, dict[Any, Any]], limited: Api, make_key: Callable[..., str], client: Client
) -> None:
    every = Api(client, make_key("reports:read"))
    in_scope = {"alpha", "alpha-sub", "alpha-old", "alpha-ops"}
    for path in ("/api/v1/token-usage", "/api/v1/events"):
        mine = _body(limited.get(path, {"limit": "500"}))["results"]
        everything = _body(every.get(path, {"limit": "500"}))["results"]
        members = {
            build.actor_of(p) for p in Person.objects.filter(memberships__team__slug__in=in_scope)
        }
        expected = [
            r["sequence"]
            for r in everything
            if (r["team"] in in_scope) or (not r["team"] and r["actor"] in members)
        ]
        assert [r["sequence"] for r in mine] == expected, path
        assert 0 < len(mine) < len(everything)
        # A team inside the limits may still be asked for.
        assert limited.get(path, {"team": "alpha-sub"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/api/v1/audit-events",
        "/api/v1/service-names",
        "/api/v1/people",
        "/api/v1/teams",
        "/api/v1/memberships",
        "/api/v1/identities",
        "/api/v1/unmapped-actors",
    ],
)
def test_org_wide_reads_refuse_a_limited_key_with_the_reason(
    world: tuple[World, dict[Any, Any]], path: str, client: Client, make_key: Callable[..., str]
) -> None:
    scopes = ["reports:read", "audit:read", "directory:read"]
    _, limited_key = auth.api_key_create(name="limited-all", scopes=scopes, teams=[world[0].alpha])
    response = Api(client, limited_key).get(path)
    assert response.status_code == 403, path
    assert "limited to teams" in response.json()["detail"]
    assert Api(client, make_key(*scopes)).get(path).status_code == 200, path


def test_scim_and_the_definition_preview_refuse_a_limited_key(
    world: tuple[World, dict[Any, Any]], client: Client
) -> None:
    _, key = auth.api_key_create(name="limited-admin", scopes=["admin"], teams=[world[0].alpha])
    scim = client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert scim.status_code == 403
    assert "limited to teams" in json.loads(scim.content)["detail"]
    version = DefinitionVersion.objects.filter(definition__key="shipped").first()
    assert version is not None
    preview = Api(client, key).post(
        f"/api/v1/definitions/{version.definition_id}/preview", {"days": 30}
    )
    assert preview.status_code == 403
    assert "limited to teams" in preview.json()["detail"]


def test_definitions_of_another_team_are_not_found(
    world: tuple[World, dict[Any, Any]], limited: Api
) -> None:
    theirs = Definition.objects.get(key="beta-fix")
    assert limited.get(f"/api/v1/definitions/{theirs.pk}").status_code == 404
    mine = Definition.objects.get(key="alpha-fix")
    assert limited.get(f"/api/v1/definitions/{mine.pk}").status_code == 200
    keys = [d["key"] for d in _body(limited.get("/api/v1/definitions"))["results"]]
    assert "beta-fix" not in keys
    assert {"alpha-fix", "shipped"} <= set(keys)


def test_the_trend_markers_leave_out_another_teams_rule_changes(
    world: tuple[World, dict[Any, Any]], limited: Api, make_key: Callable[..., str], client: Client
) -> None:
    params = {**MARCH, "interval": "week"}
    assert _body(limited.get("/api/v1/reports/trend", params))["markers"] == []
    every = _body(Api(client, make_key("reports:read")).get("/api/v1/reports/trend", params))
    assert [m["definition"] for m in every["markers"]] == ["beta-fix"]


def test_a_change_of_a_keys_teams_takes_effect(
    world: tuple[World, dict[Any, Any]], client: Client, settings: Any
) -> None:
    settings.AWU_API_KEY_CACHE_SECONDS = 300
    data, _ = world
    row, key = auth.api_key_create(name="moving", scopes=["reports:read"], teams=[data.alpha])
    reader = Api(client, key)
    by_team = {**MARCH, "group_by": "team"}

    def teams_read() -> set[str | None]:
        return {
            r["team"] for r in _body(reader.get("/api/v1/reports/efficiency", by_team))["results"]
        }

    assert teams_read() == {"alpha", "alpha-sub", "alpha-ops"}
    auth.api_key_set_teams(key_id=row.pk, teams=[data.beta])
    assert teams_read() == {"beta"}
    auth.api_key_set_teams(key_id=row.pk, teams=[])
    assert None in teams_read()
    assert {"alpha", "beta"} <= teams_read()


def test_a_teams_merge_reaches_a_key_limited_to_the_team_kept(
    world: tuple[World, dict[Any, Any]], client: Client, settings: Any
) -> None:
    settings.AWU_API_KEY_CACHE_SECONDS = 0
    data, _ = world
    reader = Api(client, _limited_key(data.alpha))
    assert reader.get("/api/v1/reports/efficiency", {**MARCH, "team": "beta"}).status_code == 403
    Team.objects.filter(pk=data.beta.pk).update(merged_into=data.alpha)
    assert reader.get("/api/v1/reports/efficiency", {**MARCH, "team": "beta"}).status_code == 200


# --- Random data: the limited answer is the answer over the team's records alone ---------

PEOPLE = {"ann": "alpha", "sam": "alpha-sub", "mo": "alpha-old", "bob": "beta", "nina": None}
NAMED = [None, "alpha", "alpha-sub", "alpha-old", "beta", "nowhere"]
A_SCOPE = {"alpha", "alpha-sub", "alpha-old"}

record_strategy = st.fixed_dictionaries(
    {
        "who": st.sampled_from([*PEOPLE, "ghost"]),
        "named": st.sampled_from(NAMED),
        "cost": st.sampled_from(["1.00", "2.50", "7.00", None]),
        "day": st.integers(1, 28),
        "unit": st.booleans(),
    }
)


def _resolved(record: dict[str, Any]) -> str | None:
    """The team reports give a record: the one it names, else its person's."""
    if record["named"]:
        return record["named"] if record["named"] != "nowhere" else None
    return PEOPLE.get(record["who"])


def _load(records: list[dict[str, Any]]) -> None:
    for slug in ("alpha", "beta"):
        _team(slug)
    alpha = Team.objects.get(slug="alpha")
    _team("alpha-sub", parent=alpha)
    _team("alpha-old", merged_into=alpha)
    for name, slug in PEOPLE.items():
        build.person(name, team_slug=slug)
    version = build.definition("shipped")
    for record in records:
        actor = f"{record['who']}@example.com"
        when = build.at(record["day"])
        if record["unit"] and record["named"] != "nowhere":  # a unit names a known team
            named = (
                Team.objects.get(slug=record["named"])
                if record["named"] not in (None, "nowhere")
                else None
            )
            owner = Person.objects.filter(name=record["who"]).first()
            build.unit(version, owner=owner, actor=actor, team_=named, triggered_at=when)
        build.usage(actor=actor, cost=record["cost"], occurred_at=when, team_slug=record["named"])


class _Rollback(Exception):
    pass


def _answers(teams: frozenset[int] | None) -> dict[str, Any]:
    """Efficiency by person (by name) and by team, and the spend deciles."""
    out: dict[str, Any] = {}
    names = dict(Person.objects.values_list("pk", "name"))
    for raw in (False, True):
        query = ReportQuery(
            start=datetime(2026, 3, 1, tzinfo=UTC),
            stop=datetime(2026, 4, 1, tzinfo=UTC),
            as_of=datetime(2030, 1, 1, tzinfo=UTC) if raw else None,
            teams=teams,
        )
        for dimension in ("person", "team", "department"):
            rows = efficiency_report(query=replace(query, group_by=(dimension,)))
            for row in rows:
                if dimension == "person":
                    row["person"] = names.get(row["person"])
            out[f"{dimension}-{raw}"] = sorted(rows, key=lambda r: str(r[dimension]))
        out[f"deciles-{raw}"] = spend_deciles(query=query)
        out[f"total-{raw}"] = efficiency_report(query=query)
    return out


@settings(
    max_examples=12,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(record_strategy, max_size=14))
def test_limited_answers_equal_the_answers_over_the_teams_records_alone(
    records: list[dict[str, Any]],
) -> None:
    limited: dict[str, Any] = {}
    alone: dict[str, Any] = {}
    try:
        with transaction.atomic():
            _load(records)
            scope = access.team_scope([Team.objects.get(slug="alpha").pk])
            limited = _answers(scope)
            raise _Rollback
    except _Rollback:
        pass
    try:
        with transaction.atomic():
            _load([r for r in records if _resolved(r) in A_SCOPE])
            alone = _answers(None)
            raise _Rollback
    except _Rollback:
        pass
    assert limited == alone
    expected = sum(
        (Decimal(r["cost"]) for r in records if r["cost"] and _resolved(r) in A_SCOPE), Decimal(0)
    )
    total = limited["total-True"]
    assert Decimal(total[0]["token_cost_usd"] or 0 if total else 0) == expected
