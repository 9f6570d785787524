"""Properties of ingest: valid batches round-trip, garbage never yields a 500.

Examples share one test transaction, so each valid batch gets a source of its own
and the garbage properties compare row counts before and after each request.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.event_types import CANONICAL_TYPES
from ledger.models import EventKey, EventOutbox, TokenUsage, UsageKey, WorkEvent
from tests.ledger.factories import event, usage

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
USAGE = "/api/v1/token-usage"

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- strategies for valid records -------------------------------------------------


def text(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    return st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=min_size,
        max_size=max_size,
    )


OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2026, 11, 22), timezones=OFFSETS
)
# Integers inside 64 bits and floats that jsonb hands back as the same number.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
    | text(20, min_size=0)
)
ATTRIBUTE_VALUES = (
    SCALARS | st.lists(SCALARS, max_size=4) | st.dictionaries(text(10), SCALARS, max_size=4)
)
REFS = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_.-]{0,11}", fullmatch=True),
    st.lists(text(30), min_size=1, max_size=3),
    max_size=3,
)
AI = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "assisted": st.booleans(),
        "level": st.sampled_from(["none", "assisted", "generated"]),
        "share": st.floats(min_value=0, max_value=1),
        "agent": text(30),
    },
)
EVENT_TYPES = st.sampled_from(sorted(CANONICAL_TYPES)) | st.from_regex(
    r"x\.[a-z0-9_]{1,12}", fullmatch=True
)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": draw(text(40)),
        "type": draw(EVENT_TYPES),
        "occurred_at": draw(INSTANTS).isoformat(),
        "refs": draw(REFS),
        "attributes": draw(st.dictionaries(text(15), ATTRIBUTE_VALUES, max_size=5)),
    }
    for name, strategy in (("actor", text(60)), ("team", text(30)), ("subject", text(80))):
        if draw(st.booleans()):
            body[name] = draw(strategy)
    ai = draw(AI)
    if ai is not None:
        body["ai"] = ai
    return body


BATCHES = st.lists(valid_events(), min_size=1, max_size=15, unique_by=lambda e: e["id"])


def same_record(sent: dict[str, Any], listed: dict[str, Any]) -> None:
    assert listed["type"] == sent["type"]
    assert datetime.fromisoformat(listed["occurred_at"]) == datetime.fromisoformat(
        sent["occurred_at"]
    )
    for name in ("actor", "team", "subject"):
        assert listed[name] == sent.get(name)
    assert listed["refs"] == sent["refs"]
    assert listed["attributes"] == sent["attributes"]
    assert listed["ai"] == sent.get("ai")


@PROPERTY
@given(batch=BATCHES)
def test_valid_batches_are_created_and_listed_back_unchanged(
    events_writer: Any, reader: Any, batch: list[dict[str, Any]]
) -> None:
    source = f"prop-{uuid.uuid4().hex[:12]}"
    for item in batch:
        item["source"] = source

    response = events_writer.post(EVENTS, batch)

    assert response.status_code == 201, response.content[:800]
    assert [r["status"] for r in response.json()["results"]] == ["created"] * len(batch)
    listed = reader.get(EVENTS, {"source": source, "limit": 500})
    assert listed.status_code == 200, listed.content[:800]
    by_id = {row["id"]: row for row in listed.json()["results"]}
    assert by_id.keys() == {item["id"] for item in batch}
    for item in batch:
        same_record(item, by_id[item["id"]])


@PROPERTY
@given(batch=BATCHES)
def test_posting_a_valid_batch_again_answers_duplicate_for_every_item(
    events_writer: Any, batch: list[dict[str, Any]]
) -> None:
    source = f"prop-{uuid.uuid4().hex[:12]}"
    for item in batch:
        item["source"] = source
    first = events_writer.post(EVENTS, batch).json()["results"]

    again = events_writer.post(EVENTS, batch)

    assert again.status_code == 200
    results = again.json()["results"]
    assert [r["status"] for r in results] == ["duplicate"] * len(batch)
    assert [r["id"] for r in results] == [r["id"] for r in first]


# --- garbage ------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
ENDPOINTS = {
    EVENTS: (event, (WorkEvent, EventKey, EventOutbox)),
    USAGE: (usage, (TokenUsage, UsageKey)),
}


def counts(url: str) -> list[int]:
    # The outbox holds one row per write: count the events it holds.
    return [
        model.pending() if model is EventOutbox else model.objects.count()
        for model in ENDPOINTS[url][1]
    ]


def created_by(response: Any) -> int:
    """How many records a response says it created (0 for an error answer)."""
    if response.status_code >= 400:
        return 0
    return int(response.json()["counts"]["created"])


def assert_sound(response: Any, url: str, before: list[int]) -> None:
    """No 500, the error shape on errors, and exactly the created records stored."""
    assert response.status_code < 500, response.content[:800]
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body["type"], str)
        assert isinstance(body["detail"], str)
    created = created_by(response)
    assert counts(url) == [n + created for n in before]


def encode(value: Any) -> bytes:
    # orjson refuses integers beyond 64 bits; the standard library writes them out.
    return json.dumps(value).encode()


@pytest.mark.parametrize("url", [EVENTS, USAGE])
@PROPERTY
@given(value=JSON_VALUES)
def test_any_json_value_is_answered_without_a_500(api: Any, url: str, value: Any) -> None:
    client = api("admin")
    before = counts(url)

    response = client.post(url, encode(value))

    assert_sound(response, url, before)


@pytest.mark.parametrize("url", [EVENTS, USAGE])
@PROPERTY
@given(data=st.binary(max_size=300))
def test_random_bytes_are_answered_without_a_500(api: Any, url: str, data: bytes) -> None:
    client = api("admin")
    before = counts(url)

    response = client.post(url, data)

    assert_sound(response, url, before)


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["drop", "set", "add"]),
        st.sampled_from(
            [
                "source",
                "id",
                "type",
                "occurred_at",
                "actor",
                "team",
                "subject",
                "refs",
                "ai",
                "attributes",
                "provider",
                "model",
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_creation_1h_input_tokens",
                "cache_read_input_tokens",
                "cost_usd",
                "period_start",
                "period_end",
            ]
        )
        | st.text(max_size=10),
        JSON_VALUES,
    ),
    min_size=1,
    max_size=4,
)


def mutate(record: dict[str, Any], mutations: list[tuple[str, str, Any]]) -> dict[str, Any]:
    out = dict(record)
    for action, name, value in mutations:
        if action == "drop":
            out.pop(name, None)
        else:
            out[name] = value
    return out


@pytest.mark.parametrize("url", [EVENTS, USAGE])
@PROPERTY
@given(mutations=MUTATIONS, pinned=st.booleans())
def test_mutated_records_never_yield_a_500_or_a_partial_write(
    api: Any, pinned_clock: str, url: str, mutations: list[tuple[str, str, Any]], pinned: bool
) -> None:
    client = api("admin")
    factory = ENDPOINTS[url][0]
    good = factory(source=f"prop-{uuid.uuid4().hex[:12]}")
    bad = mutate(factory(), mutations)
    before = counts(url)

    response = client.post(url, encode([good, bad] if pinned else bad))

    assert_sound(response, url, before)
    if pinned:
        assert response.json()["results"][0]["status"] == "created"
