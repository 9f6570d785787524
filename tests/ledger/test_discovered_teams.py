"""A team named by a record is reported under that team, discovered on first sight."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from awu.definitions.services import definitions_install_defaults
from awu.scoring import services
from ledger import teams
from ledger.ingest import events_ingest
from ledger.models import Membership, Person, Team
from tests.conftest import Api

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = {"from": "2026-10-01", "to": "2026-11-30"}


@pytest.fixture(autouse=True)
def _no_wakeups(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    settings.AWU_NOW = NOW.isoformat()


def contract(external_id: str, *, team: str | None, actor: str = "alice@example.com") -> dict:
    event: dict[str, Any] = {
        "source": "legal-bot",
        "id": external_id,
        "type": "contract.signed",
        "occurred_at": "2026-10-02T12:00:00Z",  # its 30-day window has closed
        "actor": actor,
        "refs": {"envelope": [external_id]},
    }
    if team is not None:
        event["team"] = team
    return event


def usage(external_id: str, *, team: str | None, cost: str = "2.00") -> dict:
    record: dict[str, Any] = {
        "source": "gateway",
        "id": external_id,
        "occurred_at": "2026-10-02T11:00:00Z",
        "actor": "alice@example.com",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1000,
        "cost_usd": cost,
    }
    if team is not None:
        record["team"] = team
    return record


def score() -> None:
    services.outbox_drain(clock=lambda: NOW, batch_size=1000)


def by_team(reader: Api) -> dict[str | None, dict[str, Any]]:
    response = reader.get("/api/v1/reports/efficiency", {**DAY, "group_by": "team"})
    assert response.status_code == 200, response.content
    return {row["team"]: row for row in response.json()["results"]}


@pytest.mark.django_db
def test_an_event_and_usage_naming_an_unknown_team_are_reported_under_its_slug(
    api: Callable[..., Api],
) -> None:
    definitions_install_defaults(now=NOW - timedelta(days=365))
    writer = api("events:write", "usage:write")
    assert writer.post("/api/v1/events", contract("env-1", team="legal")).status_code == 201
    assert writer.post("/api/v1/token-usage", usage("req-1", team="legal")).status_code == 201
    score()

    rows = by_team(api("reports:read"))
    assert set(rows) == {"legal"}
    assert rows["legal"]["awus_completed"] == "1.000000"
    assert rows["legal"]["token_cost_usd"] == "2.000000000"
    team = Team.objects.get(slug="legal")
    assert team.status == Team.Status.DISCOVERED

    [unit] = api("reports:read").get("/api/v1/work-units").json()["results"]
    assert unit["team"] == "legal"


@pytest.mark.django_db
def test_a_known_team_is_not_rediscovered(api: Callable[..., Api]) -> None:
    Team.objects.create(slug="legal", name="Legal")
    api("events:write").post("/api/v1/events", contract("env-1", team="legal"))
    team = Team.objects.get(slug="legal")
    assert team.status == Team.Status.CONFIRMED
    assert Team.objects.count() == 1


@pytest.mark.django_db
def test_an_event_naming_no_team_makes_none(api: Callable[..., Api]) -> None:
    api("events:write").post("/api/v1/events", contract("env-1", team=None))
    assert not Team.objects.exists()


@pytest.mark.django_db
def test_an_invalid_item_discovers_no_team(api: Callable[..., Api]) -> None:
    bad = {**contract("env-1", team="ghost"), "occurred_at": "yesterday"}
    response = api("events:write").post("/api/v1/events", [bad])
    assert response.json()["results"][0]["status"] == "invalid"
    assert not Team.objects.filter(slug="ghost").exists()


@pytest.mark.django_db
def test_a_merge_moves_the_history_and_the_report_follows(api: Callable[..., Api]) -> None:
    definitions_install_defaults(now=NOW - timedelta(days=365))
    law = Team.objects.create(slug="law", name="Legal")
    writer = api("events:write", "usage:write")
    writer.post("/api/v1/events", [contract("env-1", team="legal"), contract("env-2", team="law")])
    writer.post("/api/v1/token-usage", [usage("req-1", team="legal"), usage("req-2", team="law")])
    score()
    reader = api("reports:read")
    before = by_team(reader)
    assert before["legal"]["awus_completed"] == "1.000000"
    assert before["law"]["awus_completed"] == "1.000000"

    teams.team_merge(team=Team.objects.get(slug="legal"), into=law)

    after = by_team(reader)
    assert set(after) == {"law"}
    assert after["law"]["awus_completed"] == "2.000000"
    assert after["law"]["token_cost_usd"] == "4.000000000"
    units = reader.get("/api/v1/work-units", {"team": "law"}).json()["results"]
    assert {u["team"] for u in units} == {"law"}
    assert len(units) == 2
    events = reader.get("/api/v1/events", {"team": "law"}).json()["results"]
    assert len(events) == 2
    # Later records naming the merged slug count for the target too.
    writer.post("/api/v1/events", contract("env-3", team="legal"))
    score()
    assert by_team(reader)["law"]["awus_completed"] == "3.000000"


@pytest.mark.django_db
def test_a_merge_follows_earlier_merges_and_refuses_cycles() -> None:
    a, b, c = (Team.objects.create(slug=s, name=s) for s in "abc")
    teams.team_merge(team=a, into=b)
    teams.team_merge(team=b, into=c)
    a.refresh_from_db()
    assert a.merged_into == c
    with pytest.raises(teams.TeamMergeError):
        teams.team_merge(team=c, into=c)
    with pytest.raises(teams.TeamMergeError):
        teams.team_merge(team=c, into=b)


@pytest.mark.django_db
def test_members_of_a_merged_team_count_for_the_target(api: Callable[..., Api]) -> None:
    definitions_install_defaults(now=NOW - timedelta(days=365))
    legal = Team.objects.create(slug="legal-old", name="Legal (old)")
    law = Team.objects.create(slug="law", name="Legal")
    alice = Person.objects.create(name="Alice", email="alice@example.com")
    alice.identities.create(value="alice@example.com")
    Membership.objects.create(person=alice, team=legal, valid_from=NOW - timedelta(days=400))
    api("events:write").post("/api/v1/events", contract("env-1", team=None))
    score()
    teams.team_merge(team=legal, into=law)
    assert by_team(api("reports:read"))["law"]["awus_completed"] == "1.000000"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_naming_the_same_new_slug_make_one_team() -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def post(tag: str) -> None:
        try:
            barrier.wait(timeout=10)
            items = [contract(f"{tag}-{i}", team="newco") for i in range(50)]
            results = events_ingest(items=items, now=NOW)
            assert {r.status for r in results} == {"created"}
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert Team.objects.filter(slug="newco").count() == 1


@pytest.mark.django_db
def test_discovered_teams_are_counted_in_metrics_until_confirmed(
    api: Callable[..., Api],
) -> None:
    api("events:write").post(
        "/api/v1/events", [contract("env-1", team="legal"), contract("env-2", team="ops")]
    )
    reader = api("reports:read")

    def gauge() -> float:
        text = reader.get("/metrics").content.decode()
        [line] = [x for x in text.splitlines() if x.startswith("awu_teams_discovered ")]
        return float(line.split()[1])

    assert gauge() == 2
    teams.teams_confirm(teams=Team.objects.filter(slug="legal"))
    assert gauge() == 1
    teams.team_merge(team=Team.objects.get(slug="ops"), into=Team.objects.get(slug="legal"))
    assert gauge() == 0


@pytest.mark.django_db
def test_the_admin_confirms_and_merges_discovered_teams(client: Client) -> None:
    User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.login(username="root", password="pw-123456789")
    law = Team.objects.create(slug="law", name="Legal")
    teams.teams_discover(["legal", "sales"])
    legal, sales = Team.objects.get(slug="legal"), Team.objects.get(slug="sales")

    page = client.get("/admin/ledger/team/?status__exact=discovered")
    assert page.status_code == 200
    assert b"legal" in page.content
    assert b"sales" in page.content

    client.post(
        "/admin/ledger/team/",
        {"action": "confirm", "_selected_action": [sales.pk], "index": 0},
    )
    sales.refresh_from_db()
    assert sales.status == Team.Status.CONFIRMED

    client.post(
        "/admin/ledger/team/",
        {"action": "merge", "_selected_action": [legal.pk], "into": law.pk, "index": 0},
    )
    legal.refresh_from_db()
    assert legal.merged_into == law

    # The slug records name cannot be edited once the team exists.
    change = client.get(f"/admin/ledger/team/{law.pk}/change/")
    assert b'name="slug"' not in change.content
