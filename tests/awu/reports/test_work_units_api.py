"""GET /api/v1/work-units and /api/v1/work-units/{id}: filters, pages, evidence, tied spend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger import directory
from ledger.models import Person
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


def test_list_filters_by_state(reader: Api) -> None:
    version = build.definition()
    build.unit(version, state="completed")
    voided = build.unit(version, state="voided", reason="code.reverted")
    body = reader.get("/api/v1/work-units", {"state": "voided"}).json()
    assert [u["id"] for u in body["results"]] == [voided.pk]
    assert body["results"][0]["reason"] == "code.reverted"


def test_list_pages_follow_the_cursor(reader: Api) -> None:
    version = build.definition()
    ids = [build.unit(version).pk for _ in range(3)]
    first = reader.get("/api/v1/work-units", {"limit": 2}).json()
    second = reader.get("/api/v1/work-units", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [u["id"] for u in first["results"] + second["results"]] == ids[::-1]
    assert second["next_cursor"] is None


def test_list_is_newest_first_by_default(reader: Api) -> None:
    version = build.definition()
    # Triggered oldest last: the order is the order the units were made in.
    ids = [build.unit(version, triggered_at=build.at(day)).pk for day in (9, 5, 1)]
    body = reader.get("/api/v1/work-units").json()
    assert [u["id"] for u in body["results"]] == ids[::-1]


def test_list_oldest_first_when_asked(reader: Api) -> None:
    version = build.definition()
    ids = [build.unit(version).pk for _ in range(3)]
    body = reader.get("/api/v1/work-units", {"order": "oldest"}).json()
    assert [u["id"] for u in body["results"]] == ids


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_paging_through_every_unit_yields_each_once_in_either_order(
    reader: Api, order: str
) -> None:
    version = build.definition()
    made = [build.unit(version).pk for _ in range(7)]
    seen: list[int] = []
    params: dict[str, str | int] = {"limit": 3, "order": order}
    while True:
        body = reader.get("/api/v1/work-units", params).json()
        seen.extend(u["id"] for u in body["results"])
        if body["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": body["next_cursor"]}
    assert seen == (made[::-1] if order == "newest" else made)


@pytest.mark.parametrize("order", ["latest", "-id", "id", "OLDEST"])
def test_bad_order_is_a_400_naming_order(reader: Api, order: str) -> None:
    response = reader.get("/api/v1/work-units", {"order": order})
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert list(response.json()["errors"]) == ["order"]


def test_list_filters_by_ref(reader: Api) -> None:
    version = build.definition()
    build.unit(version, refs={"envelope": ["env-2"]})
    signed = build.unit(version, refs={"envelope": ["env-1"]})
    build.unit(version)
    body = reader.get("/api/v1/work-units", {"ref": "envelope:env-1"}).json()
    assert [u["id"] for u in body["results"]] == [signed.pk]


def test_bad_ref_is_a_400_naming_ref(reader: Api) -> None:
    response = reader.get("/api/v1/work-units", {"ref": "env-1"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["ref"]


def test_detail_shows_the_evidence_the_version_and_the_entries(reader: Api) -> None:
    w = build.unit(build.definition("shipped"), refs={"pr": ["acme/api#7"]})
    body = reader.get(f"/api/v1/work-units/{w.pk}").json()
    assert body["definition"] == "shipped"
    assert body["definition_version"]["version"] == 1
    assert body["evidence"][0]["type"] == "code.pr.merged"
    assert body["evidence"][0]["refs"] == {"pr": ["acme/api#7"]}
    assert [e["delta"] for e in body["entries"]] == ["1.000000"]


def test_spend_sharing_a_pr_key_is_tied_exactly(reader: Api) -> None:
    w = build.unit(build.definition(), refs={"pr": ["acme/api#7"]})
    build.usage(cost="2.50", refs={"pr": ["acme/api#7"]})
    build.usage(cost="9.00", refs={"pr": ["acme/api#8"]})
    tied = reader.get(f"/api/v1/work-units/{w.pk}").json()["spend_tied"]
    assert (tied["method"], tied["token_cost_usd"], tied["usage_records"]) == (
        "exact",
        "2.500000000",
        1,
    )


def test_spend_of_a_session_that_committed_to_the_pr_is_tied(reader: Api) -> None:
    w = build.unit(build.definition(), refs={"commit": ["9f1c2e7"]})
    build.event("x.session.commit", refs={"session": ["cc-1"], "commit": ["9f1c2e7"]})
    build.usage(cost="4.00", refs={"session": ["cc-1"]})
    tied = reader.get(f"/api/v1/work-units/{w.pk}").json()["spend_tied"]
    assert tied["token_cost_usd"] == "4.000000000"


def test_a_unit_no_spend_reaches_says_method_none(reader: Api) -> None:
    w = build.unit(build.definition(), refs={"ticket": ["SUP-1"]})
    tied = reader.get(f"/api/v1/work-units/{w.pk}").json()["spend_tied"]
    assert (tied["method"], tied["token_cost_usd"]) == ("none", "0.000000000")


def test_unknown_unit_is_a_404_in_the_error_shape(reader: Api) -> None:
    response = reader.get("/api/v1/work-units/999999")
    assert response.status_code == 404
    assert response.json()["type"] == "not_found"


def test_bad_cursor_is_a_400(reader: Api) -> None:
    assert reader.get("/api/v1/work-units", {"cursor": "nope"}).status_code == 400


def test_tied_spend_that_is_all_unpriced_has_an_unknown_cost_not_zero(reader: Api) -> None:
    w = build.unit(build.definition(), refs={"pr": ["acme/api#7"]})
    build.usage(cost=None, model="unlisted-model", refs={"pr": ["acme/api#7"]})
    tied = reader.get(f"/api/v1/work-units/{w.pk}").json()["spend_tied"]
    assert (tied["method"], tied["usage_records"], tied["unpriced_records"]) == ("exact", 1, 1)
    assert tied["token_cost_usd"] is None


def test_tied_spend_partly_unpriced_shows_its_priced_cost_and_counts_the_rest(
    reader: Api,
) -> None:
    w = build.unit(build.definition(), refs={"pr": ["acme/api#7"]})
    build.usage(cost="2.50", refs={"pr": ["acme/api#7"]})
    build.usage(cost=None, model="unlisted-model", refs={"pr": ["acme/api#7"]})
    tied = reader.get(f"/api/v1/work-units/{w.pk}").json()["spend_tied"]
    assert (tied["token_cost_usd"], tied["usage_records"], tied["unpriced_records"]) == (
        "2.500000000",
        2,
        1,
    )


def test_units_show_and_filter_by_the_person_and_team_mapped_after_scoring(reader: Api) -> None:
    unit = build.unit(build.definition(), actor="laptop-3")
    dana = Person.objects.create(name="dana", email="dana@example.com")
    directory.identity_map(value="laptop-3", person=dana)
    directory.membership_start(person=dana, team=build.team("search"))

    response = reader.get("/api/v1/work-units", {"team": "search"})
    [row] = response.json()["results"]
    assert (row["id"], row["person"], row["team"]) == (unit.pk, dana.pk, "search")
    detail = reader.get(f"/api/v1/work-units/{unit.pk}").json()
    assert (detail["person"], detail["team"]) == (dana.pk, "search")
    assert reader.get("/api/v1/work-units", {"person": str(dana.pk)}).json()["results"]
