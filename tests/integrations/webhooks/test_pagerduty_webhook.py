"""PagerDuty V3 deliveries through POST /api/v1/hooks/pagerduty/<source>, real database."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client

from tests.integrations.webhooks import (
    answer,
    events_of,
    fixture,
    make_source,
    nothing_stored,
    post_hook,
    signed,
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "pd-signing-secret-1"
OLD_SECRET = "pd-signing-secret-0"
SLUG = "ops"


def headers(body: bytes, *secrets: str) -> dict[str, str]:
    # One v1= signature per signing secret PagerDuty holds (several while it rotates).
    return {
        "X-PagerDuty-Signature": ",".join(
            signed("pagerduty", body, secret).headers["X-PagerDuty-Signature"]
            for secret in secrets or (SECRET,)
        )
    }


def deliver(client: Client, body: bytes, *secrets: str) -> Any:
    return post_hook(client, "pagerduty", SLUG, body, headers(body, *secrets))


@pytest.fixture
def source() -> Any:
    return make_source("pagerduty", SLUG, SECRET, previous=OLD_SECRET)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("incident.triggered.json", [("01BRB6ZP4M6T8ZG4X6BP63ZB9A", "incident.opened")]),
        (
            "incident.triggered.attributed.json",
            [
                ("01BRB6ZP4M6T8ZG4X6BP63ZB9B", "incident.opened"),
                ("01BRB6ZP4M6T8ZG4X6BP63ZB9B:attributed", "incident.attributed"),
            ],
        ),
        ("incident.annotated.json", [("01BRB6ZP4M6T8ZG4X6BP63ZB9E", "incident.attributed")]),
        ("incident.resolved.json", [("01BRB6ZP4M6T8ZG4X6BP63ZB9C", "incident.resolved")]),
    ],
)
def test_each_recorded_delivery_is_stored_as_its_canonical_events(
    client: Client, source: Any, name: str, expected: list[tuple[str, str]]
) -> None:
    response = deliver(client, fixture("pagerduty", name))
    assert response.status_code == 200, response.content
    assert stored(source) == expected


def test_attribution_note_links_the_incident_to_the_named_change(
    client: Client, source: Any
) -> None:
    deliver(client, fixture("pagerduty", "incident.annotated.json"))
    (event,) = events_of(source)
    assert event.refs == {"incident": ["PGR0VU2"], "deploy": ["4711"], "pr": ["acme/api#123"]}


def test_unknown_event_type_is_ignored(client: Client, source: Any) -> None:
    payload = orjson.loads(fixture("pagerduty", "incident.triggered.json"))
    payload["event"]["event_type"] = "incident.something_new"
    response = deliver(client, orjson.dumps(payload))
    assert response.status_code == 200
    assert answer(response)["status"] == "ignored"
    assert nothing_stored(source)


def test_a_header_carrying_an_unknown_and_a_live_signature_verifies(
    client: Client, source: Any
) -> None:
    response = deliver(client, fixture("pagerduty", "incident.triggered.json"), "pd-new", SECRET)
    assert response.status_code == 200
