"""The directory API: people, teams, memberships and identities, and every bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import override_settings

from ledger import directory
from ledger.models import Identity, Membership, Person, Team
from tests.conftest import Api

pytestmark = pytest.mark.django_db

NOW = "2026-11-23T12:00:00+00:00"


@pytest.fixture(autouse=True)
def _clock() -> Any:
    with override_settings(AWU_NOW=NOW):
        yield


@pytest.fixture
def w(api: Callable[..., Api]) -> Api:
    return api("directory:write")


def _json(response: Any) -> Any:
    return orjson.loads(response.content)


def _refused(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = _json(response)
    assert field in body["errors"], body
    return body


# --- Scopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["directory:read", "directory:write", "admin"])
def test_reading_needs_directory_read_or_write(api: Callable[..., Api], scope: str) -> None:
    for path in ("/api/v1/people", "/api/v1/teams", "/api/v1/memberships", "/api/v1/identities"):
        assert api(scope).get(path).status_code == 200


@pytest.mark.parametrize("scope", ["directory:read", "reports:read"])
def test_writing_needs_directory_write(api: Callable[..., Api], scope: str) -> None:
    response = api(scope).post("/api/v1/people", {"name": "Ann"})
    assert response.status_code == 403
    assert _json(response)["type"] == "permission_denied"


def test_reports_read_alone_cannot_read_the_directory(api: Callable[..., Api]) -> None:
    assert api("reports:read").get("/api/v1/people").status_code == 403


# --- People ---------------------------------------------------------------------------------


def test_a_person_is_created_and_their_email_becomes_an_identity(w: Api) -> None:
    response = w.post(
        "/api/v1/people",
        {"name": "Ann", "email": "ann@example.com", "department": "Eng", "external_id": "hr-1"},
    )
    assert response.status_code == 201, response.content
    body = _json(response)
    assert body["identities"] == ["ann@example.com"]
    assert body["active"] is True
    assert Identity.objects.get(value="ann@example.com").origin == "api"
    assert _json(w.get(f"/api/v1/people/{body['id']}"))["external_id"] == "hr-1"


def test_a_duplicate_email_is_a_conflict_naming_the_existing_person(w: Api) -> None:
    ann = Person.objects.create(name="Ann", email="ann@example.com")
    body = _refused(
        w.post("/api/v1/people", {"name": "Ann 2", "email": "ANN@example.com"}), 409, "email"
    )
    assert body["existing_id"] == ann.pk
    assert body["type"] == "conflict"


def test_a_duplicate_external_id_is_a_conflict(w: Api) -> None:
    ann = Person.objects.create(name="Ann", external_id="hr-1")
    body = _refused(
        w.post("/api/v1/people", {"name": "B", "external_id": "hr-1"}), 409, "external_id"
    )
    assert body["existing_id"] == ann.pk


def test_an_email_alias_mapped_to_someone_else_is_a_conflict(w: Api) -> None:
    bob = Person.objects.create(name="Bob")
    directory.identity_map(value="ann@example.com", person=bob)
    body = _refused(
        w.post("/api/v1/people", {"name": "Ann", "email": "ann@example.com"}), 409, "value"
    )
    assert body["existing_id"] == bob.pk
    assert not Person.objects.filter(name="Ann").exists()  # one transaction


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "Ann", "email": "not-an-email"}, "email"),
        ({"name": "Ann", "manager": 999999}, "manager"),
        ({"name": "Ann", "manager": "x"}, "manager"),
        ({"name": "Ann", "active": "perhaps"}, "active"),
        ({"name": "Ann", "colour": "blue"}, "colour"),
        ({"name": "A" * 201}, "name"),
        ({"name": "Ann\x00"}, "name"),
    ],
)
def test_a_bad_person_is_refused_naming_the_field(w: Api, body: dict[str, Any], field: str) -> None:
    _refused(w.post("/api/v1/people", body), 400, field)


def test_a_body_that_is_not_one_json_object_is_refused(w: Api) -> None:
    assert w.post("/api/v1/people", [{"name": "Ann"}]).status_code == 400
    assert w.post("/api/v1/people", b"{", content_type="application/json").status_code == 400
    assert w.post("/api/v1/people", b"name=Ann", content_type="text/plain").status_code == 415


def test_patch_changes_a_person_and_a_new_email_becomes_an_identity(w: Api) -> None:
    ann = Person.objects.create(name="Ann", email="ann@old.example")
    boss = Person.objects.create(name="Boss")
    response = w.patch(
        f"/api/v1/people/{ann.pk}",
        {"email": "ann@new.example", "manager": boss.pk, "cost_centre": "CC-1"},
    )
    assert response.status_code == 200, response.content
    body = _json(response)
    assert (body["email"], body["manager"], body["cost_centre"]) == (
        "ann@new.example",
        boss.pk,
        "CC-1",
    )
    assert "ann@new.example" in body["identities"]


def test_deactivating_a_person_ends_their_memberships(w: Api) -> None:
    ann = Person.objects.create(name="Ann")
    directory.membership_start(person=ann, team=Team.objects.create(slug="web", name="Web"))
    body = _json(w.patch(f"/api/v1/people/{ann.pk}", {"active": False}))
    assert body["active"] is False
    assert body["teams"] == []
    assert Membership.objects.get(person=ann).valid_to is not None


def test_a_manager_cycle_is_refused(w: Api) -> None:
    ann = Person.objects.create(name="Ann")
    bob = Person.objects.create(name="Bob", manager=ann)
    _refused(w.patch(f"/api/v1/people/{ann.pk}", {"manager": bob.pk}), 400, "manager")
    _refused(w.patch(f"/api/v1/people/{ann.pk}", {"manager": ann.pk}), 400, "manager")


def test_patching_someone_elses_email_is_a_conflict(w: Api) -> None:
    Person.objects.create(name="Ann", email="ann@example.com")
    bob = Person.objects.create(name="Bob")
    _refused(w.patch(f"/api/v1/people/{bob.pk}", {"email": "ann@example.com"}), 409, "email")


def test_an_unknown_person_is_404(w: Api) -> None:
    assert w.get("/api/v1/people/999999").status_code == 404
    assert w.get(f"/api/v1/people/{2**70}").status_code == 404
    assert w.patch("/api/v1/people/999999", {"name": "x"}).status_code == 404


def test_people_are_filtered_and_paged(w: Api) -> None:
    web = Team.objects.create(slug="web", name="Web")
    for n in range(5):
        p = Person.objects.create(name=f"P{n}", email=f"p{n}@example.com", active=n != 4)
        if n < 2:
            directory.membership_start(person=p, team=web)
    names = lambda r: [row["name"] for row in _json(r)["results"]]  # noqa: E731
    assert sorted(names(w.get("/api/v1/people", {"team": "web"}))) == ["P0", "P1"]
    assert names(w.get("/api/v1/people", {"active": "false"})) == ["P4"]
    assert names(w.get("/api/v1/people", {"email": "P3@EXAMPLE.com"})) == ["P3"]
    assert names(w.get("/api/v1/people", {"q": "p2@"})) == ["P2"]
    first = _json(w.get("/api/v1/people", {"limit": 3}))
    second = _json(w.get("/api/v1/people", {"limit": 3, "cursor": first["next_cursor"]}))
    assert len(first["results"]) == 3
    assert len(second["results"]) == 2
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [({"active": "yes"}, "active"), ({"limit": "0"}, "limit"), ({"cursor": "!!"}, "cursor")],
)
def test_bad_list_filters_are_refused_by_name(w: Api, params: dict[str, str], field: str) -> None:
    _refused(w.get("/api/v1/people", params), 400, field)


# --- Teams ----------------------------------------------------------------------------------


def test_a_team_is_created_under_a_parent(w: Api) -> None:
    w.post("/api/v1/teams", {"slug": "eng", "name": "Engineering", "cost_centre": "CC-9"})
    response = w.post("/api/v1/teams", {"slug": "web", "name": "Web", "parent": "eng"})
    assert response.status_code == 201, response.content
    assert _json(response)["parent"] == "eng"
    assert [t["slug"] for t in _json(w.get("/api/v1/teams", {"parent": "eng"}))["results"]] == [
        "web"
    ]


def test_a_duplicate_team_slug_is_a_conflict(w: Api) -> None:
    web = Team.objects.create(slug="web", name="Web")
    body = _refused(w.post("/api/v1/teams", {"slug": "web", "name": "Web"}), 409, "slug")
    assert body["existing_id"] == web.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Web"}, "slug"),
        ({"slug": "has space", "name": "Web"}, "slug"),
        ({"slug": "web", "name": "Web", "parent": "nowhere"}, "parent"),
        ({"slug": "web", "name": "Web", "domain": "x" * 41}, "domain"),
    ],
)
def test_a_bad_team_is_refused_naming_the_field(w: Api, body: dict[str, Any], field: str) -> None:
    _refused(w.post("/api/v1/teams", body), 400, field)


def test_a_parent_cycle_is_refused_naming_parent(w: Api) -> None:
    eng = Team.objects.create(slug="eng", name="Eng")
    web = Team.objects.create(slug="web", name="Web", parent=eng)
    body = _refused(w.patch(f"/api/v1/teams/{eng.pk}", {"parent": "web"}), 400, "parent")
    assert "eng > web > eng" in body["errors"]["parent"][0]
    _refused(w.patch(f"/api/v1/teams/{web.pk}", {"parent": "web"}), 400, "parent")


def test_the_slug_cannot_be_changed(w: Api) -> None:
    web = Team.objects.create(slug="web", name="Web")
    _refused(w.patch(f"/api/v1/teams/{web.pk}", {"slug": "www"}), 400, "slug")


def test_patch_moves_a_team_and_clears_its_parent(w: Api) -> None:
    eng = Team.objects.create(slug="eng", name="Eng")
    web = Team.objects.create(slug="web", name="Web")
    body = _json(w.patch(f"/api/v1/teams/{web.pk}", {"parent": "eng", "cost_centre": "CC"}))
    assert (body["parent"], body["cost_centre"]) == ("eng", "CC")
    assert _json(w.patch(f"/api/v1/teams/{web.pk}", {"parent": None}))["parent"] is None
    assert eng.children.count() == 0


# --- Memberships ----------------------------------------------------------------------------


@pytest.fixture
def ann() -> Person:
    return Person.objects.create(name="Ann")


@pytest.fixture
def web() -> Team:
    return Team.objects.create(slug="web", name="Web")


def test_a_first_membership_reaches_back_and_a_repeat_is_the_same_row(
    w: Api, ann: Person, web: Team
) -> None:
    first = w.post("/api/v1/memberships", {"person": ann.pk, "team": "web"})
    assert first.status_code == 201
    assert _json(first)["valid_from"].startswith("1970-01-01")
    again = w.post("/api/v1/memberships", {"person": ann.pk, "team": "web"})
    assert again.status_code == 200
    assert _json(again)["id"] == _json(first)["id"]


def test_a_past_membership_is_recorded_with_its_dates(w: Api, ann: Person, web: Team) -> None:
    response = w.post(
        "/api/v1/memberships",
        {"person": ann.pk, "team": "web", "valid_from": "2026-01-01", "valid_to": "2026-03-01"},
    )
    assert response.status_code == 201, response.content
    assert _json(response)["valid_to"].startswith("2026-03-01")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"person": None}, "person"),
        ({"person": 999999, "team": "web"}, "person"),
        ({"person": "ann", "team": "web"}, "person"),
        ({"team": "nowhere"}, "team"),
        ({"valid_from": "yesterday"}, "valid_from"),
        ({"valid_from": "2026-02-30"}, "valid_from"),
        ({"valid_from": "2026-03-01T00:00:00"}, "valid_from"),
        ({"valid_from": 1700000000}, "valid_from"),
        ({"valid_to": "2026-03-01"}, "valid_from"),
        ({"valid_from": "2026-03-01", "valid_to": "2026-02-01"}, "valid_to"),
        ({"valid_from": "2026-03-01", "valid_to": "2026-03-01"}, "valid_to"),
    ],
)
def test_a_bad_membership_is_refused_naming_the_field(
    w: Api, ann: Person, web: Team, body: dict[str, Any], field: str
) -> None:
    _refused(w.post("/api/v1/memberships", {"person": ann.pk, "team": "web", **body}), 400, field)
    assert not Membership.history.exists()


def test_a_deactivated_person_cannot_join_a_team(w: Api, ann: Person, web: Team) -> None:
    directory.person_set_active(person=ann, active=False)
    _refused(w.post("/api/v1/memberships", {"person": ann.pk, "team": "web"}), 400, "person")


def test_ending_a_membership_keeps_the_old_row_as_history(w: Api, ann: Person, web: Team) -> None:
    m = directory.membership_start(person=ann, team=web)
    response = w.post(f"/api/v1/memberships/{m.pk}/end", {"at": "2026-06-01"})
    assert response.status_code == 200, response.content
    ended = _json(response)
    assert ended["valid_to"].startswith("2026-06-01")
    assert ended["id"] != m.pk
    assert [r["id"] for r in _json(w.get("/api/v1/memberships"))["results"]] == [ended["id"]]
    history = _json(w.get("/api/v1/memberships", {"include": "history"}))["results"]
    assert {r["id"]: r["retracted_at"] is not None for r in history} == {
        ended["id"]: False,
        m.pk: True,
    }
    assert {"recorded_at", "origin", "valid_from"} <= set(history[0])
    # The retracted row cannot be ended again; the ended one is a conflict.
    assert w.post(f"/api/v1/memberships/{m.pk}/end", {}).status_code == 404
    _refused(w.post(f"/api/v1/memberships/{ended['id']}/end", {}), 409, "membership")


def test_ending_before_the_start_is_refused(w: Api, ann: Person, web: Team) -> None:
    m = directory.membership_start(
        person=ann, team=web, valid_from=directory.BEGINNING.replace(year=2026)
    )
    _refused(w.post(f"/api/v1/memberships/{m.pk}/end", {"at": "2025-01-01"}), 400, "at")
    _refused(w.post(f"/api/v1/memberships/{m.pk}/end", {"at": "soon"}), 400, "at")


def test_ending_without_a_body_ends_now(w: Api, ann: Person, web: Team) -> None:
    m = directory.membership_start(person=ann, team=web)
    response = w.post(f"/api/v1/memberships/{m.pk}/end", b"")
    assert response.status_code == 200, response.content
    assert _json(response)["valid_to"] == NOW


def test_memberships_are_filtered_by_person_team_and_current(
    w: Api, ann: Person, web: Team
) -> None:
    api_team = Team.objects.create(slug="api", name="API")
    directory.membership_add(
        person=ann,
        team=api_team,
        valid_from=directory.BEGINNING,
        valid_to=directory.BEGINNING.replace(year=2000),
    )
    directory.membership_start(person=ann, team=web)
    teams = lambda p: [r["team"] for r in _json(w.get("/api/v1/memberships", p))["results"]]  # noqa: E731
    assert teams({"current": "true"}) == ["web"]
    assert teams({"current": "false"}) == ["api"]
    assert teams({"team": "api", "person": str(ann.pk)}) == ["api"]
    _refused(w.get("/api/v1/memberships", {"person": "x"}), 400, "person")
    _refused(w.get("/api/v1/memberships", {"include": "all"}), 400, "include")


# --- Identities -----------------------------------------------------------------------------


def test_mapping_an_alias_then_again_is_idempotent(w: Api, ann: Person) -> None:
    created = w.post("/api/v1/identities", {"value": "github:ann", "person": ann.pk})
    assert created.status_code == 201
    again = w.post("/api/v1/identities", {"value": "github:ann", "person": ann.pk})
    assert again.status_code == 200
    assert _json(again)["id"] == _json(created)["id"]


def test_an_alias_mapped_to_another_person_needs_remap(w: Api, ann: Person) -> None:
    bob = Person.objects.create(name="Bob")
    directory.identity_map(value="github:ann", person=bob)
    body = _refused(
        w.post("/api/v1/identities", {"value": "github:ann", "person": ann.pk}), 409, "value"
    )
    assert body["existing_id"] == bob.pk
    moved = w.post("/api/v1/identities?remap=true", {"value": "github:ann", "person": ann.pk})
    assert moved.status_code == 201
    assert Identity.objects.get(value="github:ann").person == ann
    assert Identity.history.filter(value="github:ann").count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"person": 1}, "value"),
        ({"value": "", "person": 1}, "value"),
        ({"value": "x" * 255, "person": 1}, "value"),
        ({"value": "github:ann"}, "person"),
        ({"value": "github:ann", "person": 999999}, "person"),
    ],
)
def test_a_bad_identity_is_refused_naming_the_field(
    w: Api, body: dict[str, Any], field: str
) -> None:
    _refused(w.post("/api/v1/identities", body), 400, field)


def test_a_bad_remap_flag_is_refused(w: Api, ann: Person) -> None:
    body = {"value": "github:ann", "person": ann.pk}
    _refused(w.post("/api/v1/identities?remap=yes", body), 400, "remap")


def test_unmapping_retracts_and_keeps_history(w: Api, ann: Person) -> None:
    row = directory.identity_map(value="github:ann", person=ann)
    assert w.delete(f"/api/v1/identities/{row.pk}").status_code == 204
    assert not Identity.objects.exists()
    history = _json(w.get("/api/v1/identities", {"include": "history"}))["results"]
    assert history[0]["retracted_at"] is not None
    assert w.delete(f"/api/v1/identities/{row.pk}").status_code == 404
    assert _json(w.get("/api/v1/identities", {"person": str(ann.pk)}))["results"] == []


def test_listings_answer_csv_and_writes_do_not(w: Api, ann: Person, web: Team) -> None:
    directory.membership_start(person=ann, team=web)
    response = w.get("/api/v1/people", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    header, row = response.content.decode().splitlines()
    assert header.startswith("id,name,email,")
    assert '"[""web""]"' in row
    assert w.get("/api/v1/memberships", HTTP_ACCEPT="text/csv")["Content-Type"].startswith(
        "text/csv"
    )
    refused = w.post("/api/v1/people?format=csv", {"name": "Bob"})
    assert refused.status_code == 400
    assert "format" in _json(refused)["errors"]
