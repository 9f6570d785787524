"""GET /api/v1/events and /api/v1/token-usage: filters, periods, order and cursor pagination."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.models import Identity, Membership, Person, Team
from tests.ledger.factories import event, usage

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
USAGE = "/api/v1/token-usage"


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return ids_of(response.json())


def ids_of(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["results"]]


@pytest.fixture
def alice(db: None) -> Person:
    """Alice, known by two aliases, in team platform for the first half of 2026."""
    person = Person.objects.create(name="Alice", email="alice@example.com")
    Identity.objects.create(value="alice@example.com", person=person)
    Identity.objects.create(value="github:alice", person=person)
    Membership.objects.create(
        person=person,
        team=Team.objects.create(slug="platform", name="Platform"),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_to=datetime(2026, 7, 1, tzinfo=UTC),
    )
    return person


def test_events_filter_by_type(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(id="a"), event(id="b", type="code.pr.merged")])

    assert ids(reader.get(EVENTS, {"type": "code.pr.merged"})) == ["b"]


def test_events_filter_by_source(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(source="ci", id="a"), event(source="cd", id="b")])

    assert ids(reader.get(EVENTS, {"source": "cd"})) == ["b"]


def test_events_list_names_the_source_by_its_slug(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, event(source="deploy-bot"))

    assert reader.get(EVENTS).json()["results"][0]["source"] == "deploy-bot"


def test_events_filter_by_actor(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(id="a", actor="bob"), event(id="b", actor="carol")])

    assert ids(reader.get(EVENTS, {"actor": "carol"})) == ["b"]


def test_events_filter_by_person_covers_every_alias(
    events_writer: Any, reader: Any, alice: Person
) -> None:
    events_writer.post(
        EVENTS,
        [
            event(id="mail", actor="alice@example.com"),
            event(id="gh", actor="github:alice"),
            event(id="bob", actor="bob@example.com"),
        ],
    )

    assert set(ids(reader.get(EVENTS, {"person": alice.pk}))) == {"mail", "gh"}


def test_events_list_resolves_the_person(events_writer: Any, reader: Any, alice: Person) -> None:
    events_writer.post(EVENTS, [event(actor="github:alice"), event(actor="nobody")])

    rows = reader.get(EVENTS).json()["results"]

    assert {r["actor"]: r["person"] for r in rows} == {"github:alice": alice.pk, "nobody": None}


def test_events_filter_by_the_team_named_on_the_event(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(id="a", team="payments"), event(id="b", team="growth")])

    assert ids(reader.get(EVENTS, {"team": "growth"})) == ["b"]


def test_events_filter_by_team_membership_at_occurred_at(
    events_writer: Any, reader: Any, alice: Person
) -> None:
    events_writer.post(
        EVENTS,
        [
            event(id="before", team=None, occurred_at="2025-12-31T23:59:59Z"),
            event(id="during", team=None, occurred_at="2026-03-01T00:00:00Z"),
            event(id="after", team=None, occurred_at="2026-07-01T00:00:00Z"),
            event(id="other-team-named", team="payments", occurred_at="2026-03-01T00:00:00Z"),
        ],
    )

    assert ids(reader.get(EVENTS, {"team": "platform"})) == ["during"]


def test_events_filter_by_ref(events_writer: Any, reader: Any) -> None:
    events_writer.post(
        EVENTS,
        [
            event(id="a", refs={"commit": ["abc1234"]}),
            event(id="b", refs={"commit": ["def5678"], "deploy": ["abc1234"]}),
        ],
    )

    assert ids(reader.get(EVENTS, {"ref": "commit:abc1234"})) == ["a"]


def test_events_filter_by_two_refs_needs_both(events_writer: Any, reader: Any) -> None:
    events_writer.post(
        EVENTS,
        [
            event(id="a", refs={"commit": ["c1"], "pr": ["acme/api#1"]}),
            event(id="b", refs={"commit": ["c1"]}),
        ],
    )

    response = reader.get(f"{EVENTS}?ref=commit:c1&ref=pr:acme/api%231")

    assert ids(response) == ["a"]


@pytest.fixture
def march_events(events_writer: Any) -> None:
    events_writer.post(
        EVENTS,
        [
            event(id="feb-end", occurred_at="2026-02-28T23:59:59Z"),
            event(id="mar-first", occurred_at="2026-03-01T00:00:00Z"),
            event(id="mar-last", occurred_at="2026-03-31T23:59:59Z"),
            event(id="apr-first", occurred_at="2026-04-01T00:00:00Z"),
        ],
    )


def test_date_period_includes_both_whole_days(reader: Any, march_events: None) -> None:
    response = reader.get(EVENTS, {"from": "2026-03-01", "to": "2026-03-31"})

    assert set(ids(response)) == {"mar-first", "mar-last"}


def test_timestamp_period_includes_from_and_excludes_to(reader: Any, march_events: None) -> None:
    response = reader.get(EVENTS, {"from": "2026-03-01T00:00:00Z", "to": "2026-03-31T23:59:59Z"})

    assert ids(response) == ["mar-first"]


def test_timestamp_period_honours_the_offset(reader: Any, march_events: None) -> None:
    response = reader.get(EVENTS, {"from": "2026-03-01T01:00:00+01:00", "to": "2026-03-02"})

    assert ids(response) == ["mar-first"]


def test_from_alone_is_open_ended(reader: Any, march_events: None) -> None:
    assert ids(reader.get(EVENTS, {"from": "2026-04-01"})) == ["apr-first"]


def walk(reader: Any, url: str, params: dict[str, Any]) -> tuple[list[str], int]:
    """Every page of a listing, following next_cursor: (ids in order, pages)."""
    seen: list[str] = []
    params = dict(params)
    pages = 0
    while True:
        body = reader.get(url, params).json()
        pages += 1
        seen.extend(row["id"] for row in body["results"])
        if body["next_cursor"] is None:
            return seen, pages
        params["cursor"] = body["next_cursor"]


@pytest.mark.parametrize(("order", "expected"), [("newest", reversed), ("oldest", list)])
def test_cursor_pagination_walks_every_row_exactly_once_in_either_order(
    events_writer: Any, reader: Any, order: str, expected: Any
) -> None:
    posted = [f"e{i}" for i in range(7)]
    events_writer.post(EVENTS, [event(id=name) for name in posted])

    seen, pages = walk(reader, EVENTS, {"limit": 2, "order": order})

    assert seen == list(expected(posted))
    assert pages == 4


@pytest.mark.parametrize("url", [EVENTS, USAGE])
def test_listings_are_newest_first_by_default(
    events_writer: Any, usage_writer: Any, reader: Any, url: str
) -> None:
    for name in ("first", "second", "third"):
        if url == EVENTS:
            events_writer.post(EVENTS, event(id=name))
        else:
            usage_writer.post(USAGE, usage(id=name))

    rows = reader.get(url).json()["results"]

    assert [r["id"] for r in rows] == ["third", "second", "first"]
    assert rows[0]["sequence"] > rows[1]["sequence"] > rows[2]["sequence"]


def test_newest_first_is_by_ingest_sequence_not_occurred_at(
    events_writer: Any, reader: Any
) -> None:
    events_writer.post(EVENTS, [event(id="late", occurred_at="2026-05-01T00:00:00Z")])
    events_writer.post(EVENTS, [event(id="early", occurred_at="2026-01-01T00:00:00Z")])

    assert ids(reader.get(EVENTS)) == ["early", "late"]


def test_order_oldest_lists_in_ingest_sequence(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(id="late", occurred_at="2026-05-01T00:00:00Z")])
    events_writer.post(EVENTS, [event(id="early", occurred_at="2026-01-01T00:00:00Z")])

    rows = reader.get(EVENTS, {"order": "oldest"}).json()["results"]

    assert [r["id"] for r in rows] == ["late", "early"]
    assert rows[0]["sequence"] < rows[1]["sequence"]


def test_a_cursor_keeps_its_order_when_order_is_left_out(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(id=name) for name in ("a", "b", "c")])
    first = reader.get(EVENTS, {"limit": 1, "order": "oldest"}).json()

    rest = reader.get(EVENTS, {"cursor": first["next_cursor"]})

    assert ids(rest) == ["b", "c"]


def test_a_cursor_and_an_order_that_contradicts_it_is_a_400_naming_order(
    events_writer: Any, reader: Any
) -> None:
    events_writer.post(EVENTS, [event(), event()])
    first = reader.get(EVENTS, {"limit": 1}).json()

    response = reader.get(EVENTS, {"cursor": first["next_cursor"], "order": "oldest"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["order"]


def test_a_cursor_made_when_listings_were_oldest_first_still_pages_oldest_first(
    events_writer: Any, reader: Any
) -> None:
    events_writer.post(EVENTS, [event(id=name) for name in ("a", "b", "c")])
    first_sequence = reader.get(EVENTS, {"order": "oldest"}).json()["results"][0]["sequence"]
    old_cursor = base64.urlsafe_b64encode(f"s:{first_sequence}".encode()).decode().rstrip("=")

    assert ids(reader.get(EVENTS, {"cursor": old_cursor})) == ["b", "c"]


def test_last_page_has_no_next_cursor(events_writer: Any, reader: Any) -> None:
    events_writer.post(EVENTS, [event(), event()])

    assert reader.get(EVENTS, {"limit": 2}).json()["next_cursor"] is None


def test_oldest_first_rows_stored_after_a_page_was_read_appear_on_the_next_page(
    events_writer: Any, reader: Any
) -> None:
    events_writer.post(EVENTS, [event(id="a"), event(id="b")])
    first = reader.get(EVENTS, {"limit": 1, "order": "oldest"}).json()

    events_writer.post(EVENTS, event(id="c"))
    rest = reader.get(EVENTS, {"limit": 10, "cursor": first["next_cursor"]})

    assert ids(rest) == ["b", "c"]


def test_newest_first_rows_stored_after_a_page_was_read_shift_no_page(
    events_writer: Any, reader: Any
) -> None:
    events_writer.post(EVENTS, [event(id="a"), event(id="b")])
    first = reader.get(EVENTS, {"limit": 1}).json()

    events_writer.post(EVENTS, event(id="c"))
    rest = reader.get(EVENTS, {"limit": 10, "cursor": first["next_cursor"]})

    assert (ids_of(first), ids(rest)) == (["b"], ["a"])
    assert ids(reader.get(EVENTS, {"limit": 1})) == ["c"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eDo1"}, "cursor"),  # base64 of "x:5"
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"from": "last tuesday"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "2026-03-01T00:00:00"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"person": "alice"}, "person"),
        ({"ref": "no-colon"}, "ref"),
        ({"cost_source": "guessed"}, "cost_source"),
        ({"order": "sideways"}, "order"),
        ({"order": "-id"}, "order"),
        ({"order": "Newest"}, "order"),
        ({"cursor": "bjp4"}, "cursor"),  # base64 of "n:x"
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)
@pytest.mark.parametrize("url", [EVENTS, USAGE])
def test_bad_query_parameter_is_a_400_validation_error(
    reader: Any, url: str, params: dict[str, str], field: str
) -> None:
    response = reader.get(url, params)

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert field in body["errors"]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("url", [EVENTS, USAGE, "/api/v1/work-units"])
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.one_of(st.none(), st.sampled_from(["newest", "oldest"]), st.text(max_size=12)),
    cursor=st.one_of(
        st.none(),
        st.text(max_size=16),
        st.builds(
            lambda kind, value: _cursor(f"{kind}:{value}"),
            st.sampled_from(["n", "o", "s", "x", ""]),
            st.one_of(st.text(max_size=12), st.integers(-(2**70), 2**70).map(str)),
        ),
    ),
)
def test_any_order_and_cursor_is_answered_or_refused_naming_it_never_a_500(
    reader: Any, url: str, order: str | None, cursor: str | None
) -> None:
    params = {k: v for k, v in {"order": order, "cursor": cursor}.items() if v is not None}

    response = reader.get(url, params)

    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert set(response.json()["errors"]) <= {"order", "cursor"}


def test_usage_filter_by_provider(usage_writer: Any, reader: Any) -> None:
    usage_writer.post(USAGE, [usage(id="a"), usage(id="b", provider="openai", model="gpt-5")])

    assert ids(reader.get(USAGE, {"provider": "openai"})) == ["b"]


def test_usage_filter_by_model(usage_writer: Any, reader: Any) -> None:
    usage_writer.post(
        USAGE, [usage(id="a", model="claude-opus-4-5"), usage(id="b", model="claude-haiku-4-5")]
    )

    assert ids(reader.get(USAGE, {"model": "claude-haiku-4-5"})) == ["b"]


def test_usage_filter_by_cost_source(usage_writer: Any, reader: Any) -> None:
    usage_writer.post(
        USAGE, [usage(id="paid", cost_usd="0.5"), usage(id="unknown", model="mystery-9000")]
    )

    assert ids(reader.get(USAGE, {"cost_source": "reported"})) == ["paid"]
    assert ids(reader.get(USAGE, {"cost_source": "unpriced"})) == ["unknown"]


def test_usage_filter_by_actor_and_period(usage_writer: Any, reader: Any) -> None:
    usage_writer.post(
        USAGE,
        [
            usage(id="in", actor="bob", occurred_at="2026-03-15T10:00:00Z"),
            usage(id="other-actor", actor="carol", occurred_at="2026-03-15T10:00:00Z"),
            usage(id="other-day", actor="bob", occurred_at="2026-03-16T10:00:00Z"),
        ],
    )

    response = reader.get(USAGE, {"actor": "bob", "from": "2026-03-15", "to": "2026-03-15"})

    assert ids(response) == ["in"]


def test_usage_filter_by_person_and_team_membership(
    usage_writer: Any, reader: Any, alice: Person
) -> None:
    usage_writer.post(
        USAGE,
        [
            usage(id="gh", actor="github:alice", occurred_at="2026-03-15T10:00:00Z"),
            usage(id="bob", actor="bob", occurred_at="2026-03-15T10:00:00Z"),
        ],
    )

    assert ids(reader.get(USAGE, {"person": alice.pk})) == ["gh"]
    assert ids(reader.get(USAGE, {"team": "platform"})) == ["gh"]


def test_usage_filter_by_ref(usage_writer: Any, reader: Any) -> None:
    usage_writer.post(
        USAGE, [usage(id="a", refs={"session": ["s1"]}), usage(id="b", refs={"session": ["s2"]})]
    )

    assert ids(reader.get(USAGE, {"ref": "session:s2"})) == ["b"]


@pytest.mark.parametrize(("order", "expected"), [("newest", reversed), ("oldest", list)])
def test_usage_cursor_pagination_walks_every_row_exactly_once_in_either_order(
    usage_writer: Any, reader: Any, order: str, expected: Any
) -> None:
    posted = [f"u{i}" for i in range(5)]
    usage_writer.post(USAGE, [usage(id=name) for name in posted])

    seen, _ = walk(reader, USAGE, {"limit": 2, "order": order})

    assert seen == list(expected(posted))


def test_bucketed_usage_lists_its_period(usage_writer: Any, reader: Any) -> None:
    body = usage()
    del body["occurred_at"]
    body.update(period_start="2026-11-01T00:00:00Z", period_end="2026-11-02T00:00:00Z")
    usage_writer.post(USAGE, body)

    row = reader.get(USAGE).json()["results"][0]

    assert datetime.fromisoformat(row["occurred_at"]) == datetime(2026, 11, 1, tzinfo=UTC)
    assert datetime.fromisoformat(row["period_end"]) == datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize("url", [EVENTS, USAGE])
def test_a_format_the_endpoint_does_not_offer_is_refused_naming_the_ones_it_does(
    reader: Any, url: str
) -> None:
    response = reader.get(url, {"format": "csv"})

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"] == {"format": ["one of json"]}
