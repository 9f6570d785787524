"""POST /api/v1/events: per-item outcomes, idempotency, validation and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.models import EventOutbox, Source, WorkEvent
from tests.ledger.factories import event, without

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"
# The hot path: the batch insert, wrapped in a savepoint (the key and source are cached).
QUERIES_PER_BATCH = 3


def statuses(response: Any) -> list[str]:
    return [r["status"] for r in response.json()["results"]]


def test_single_valid_event_is_created_with_201(events_writer: Any) -> None:
    body = event(id="deploy-4711-success")

    response = events_writer.post(URL, body)

    assert response.status_code == 201
    result = response.json()["results"][0]
    assert result["status"] == "created"
    stored = WorkEvent.objects.get(pk=result["id"])
    assert stored.external_id == "deploy-4711-success"
    assert stored.type == "deploy.succeeded"
    assert stored.occurred_at == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert stored.refs == {"commit": ["9f1c2e7"], "deploy": ["4711"]}
    assert stored.attributes == {"environment": "production"}


def test_single_created_event_reports_counts(events_writer: Any) -> None:
    response = events_writer.post(URL, event())

    assert response.json()["counts"] == {"created": 1, "duplicate": 0, "conflict": 0, "invalid": 0}


def test_same_event_posted_again_is_a_200_duplicate_with_the_same_id(events_writer: Any) -> None:
    body = event()
    first = events_writer.post(URL, body)

    again = events_writer.post(URL, body)

    assert again.status_code == 200
    assert again.json()["results"][0]["status"] == "duplicate"
    assert again.json()["results"][0]["id"] == first.json()["results"][0]["id"]
    assert WorkEvent.objects.count() == 1


def test_same_key_with_a_different_body_is_a_409_conflict_in_the_error_shape(
    events_writer: Any,
) -> None:
    body = event()
    events_writer.post(URL, body)

    response = events_writer.post(URL, {**body, "type": "deploy.failed"})

    assert response.status_code == 409
    error = response.json()
    assert error["type"] == "conflict"
    assert isinstance(error["detail"], str)
    assert error["detail"]


def test_conflicting_event_is_kept_out_of_the_ledger(events_writer: Any) -> None:
    body = event()
    events_writer.post(URL, body)

    events_writer.post(URL, {**body, "type": "deploy.failed"})

    assert list(WorkEvent.objects.values_list("type", flat=True)) == ["deploy.succeeded"]


def test_batch_where_every_item_is_created_answers_201(events_writer: Any) -> None:
    response = events_writer.post(URL, [event(), event(), event()])

    assert response.status_code == 201
    assert statuses(response) == ["created"] * 3
    assert response.json()["counts"]["created"] == 3
    assert WorkEvent.objects.count() == 3


def test_mixed_batch_answers_200_with_per_item_results_in_request_order(
    events_writer: Any,
) -> None:
    existing, other = event(), event()
    events_writer.post(URL, [existing, other])
    batch = [
        event(id="new-1"),
        existing,  # duplicate
        {**other, "actor": "mallory@example.com"},  # conflict
        without(event(id="bad-1"), "occurred_at"),  # invalid
        event(id="new-2"),
    ]

    response = events_writer.post(URL, batch)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert statuses(response) == ["created", "duplicate", "conflict", "invalid", "created"]
    assert response.json()["counts"] == {"created": 2, "duplicate": 1, "conflict": 1, "invalid": 1}


def test_mixed_batch_stores_the_valid_items_and_not_the_invalid_ones(events_writer: Any) -> None:
    batch = [
        event(id="good-1"),
        without(event(id="bad-1"), "occurred_at"),
        event(id="bad-2", type="deploy"),
        event(id="good-2"),
    ]

    events_writer.post(URL, batch)

    assert sorted(WorkEvent.objects.values_list("external_id", flat=True)) == ["good-1", "good-2"]


def test_invalid_single_event_is_a_400_with_field_errors(events_writer: Any) -> None:
    response = events_writer.post(URL, without(event(), "occurred_at"))

    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "validation_error"
    assert "occurred_at" in error["errors"]


def test_field_error_names_the_path_into_refs(events_writer: Any) -> None:
    response = events_writer.post(URL, event(refs={"commit": [""]}))

    assert list(response.json()["errors"]) == ["refs.commit.0"]


def test_field_error_names_the_bad_timestamp(events_writer: Any) -> None:
    response = events_writer.post(URL, event(occurred_at="yesterday"))

    assert list(response.json()["errors"]) == ["occurred_at"]


def test_timestamp_without_an_offset_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(URL, event(occurred_at="2026-11-01T12:00:00"))

    assert response.status_code == 400
    assert "occurred_at" in response.json()["errors"]


def test_invalid_batch_item_carries_its_field_errors(events_writer: Any) -> None:
    response = events_writer.post(URL, [event(), event(refs={"commit": ["ok", ""]})])

    assert response.json()["results"][1]["errors"].keys() == {"refs.commit.1"}


def test_unknown_field_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(URL, event(colour="blue"))

    assert response.status_code == 400
    assert "colour" in response.json()["errors"]


def test_two_identical_items_in_one_batch_are_created_then_duplicate(events_writer: Any) -> None:
    body = event()

    response = events_writer.post(URL, [body, body])

    assert statuses(response) == ["created", "duplicate"]
    first, second = response.json()["results"]
    assert first["id"] == second["id"]
    assert WorkEvent.objects.count() == 1


def test_same_key_twice_in_one_batch_with_different_bodies_is_created_then_conflict(
    events_writer: Any,
) -> None:
    body = event()

    response = events_writer.post(URL, [body, {**body, "type": "deploy.failed"}])

    assert statuses(response) == ["created", "conflict"]
    assert list(WorkEvent.objects.values_list("type", flat=True)) == ["deploy.succeeded"]


def test_same_id_from_two_sources_is_two_events(events_writer: Any) -> None:
    response = events_writer.post(
        URL, [event(source="ci", id="build-1"), event(source="cd", id="build-1")]
    )

    assert statuses(response) == ["created", "created"]
    first, second = response.json()["results"]
    assert first["id"] != second["id"]


def test_same_instant_written_with_another_offset_is_a_duplicate(events_writer: Any) -> None:
    body = event(occurred_at="2026-11-01T12:00:00Z")
    events_writer.post(URL, body)

    response = events_writer.post(URL, {**body, "occurred_at": "2026-11-01T14:00:00+02:00"})

    assert response.status_code == 200
    assert statuses(response) == ["duplicate"]


def test_fractional_zero_seconds_are_the_same_canonical_body(events_writer: Any) -> None:
    body = event(occurred_at="2026-11-01T12:00:00Z")
    events_writer.post(URL, body)

    response = events_writer.post(URL, {**body, "occurred_at": "2026-11-01T12:00:00.000Z"})

    assert statuses(response) == ["duplicate"]


def test_timestamps_are_stored_in_utc(events_writer: Any) -> None:
    response = events_writer.post(URL, event(occurred_at="2026-11-01T14:00:00+02:00"))

    stored = WorkEvent.objects.get(pk=response.json()["results"][0]["id"])
    assert stored.occurred_at == datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_occurred_at_beyond_the_future_skew_is_invalid(events_writer: Any) -> None:
    # The clock is pinned to 2026-11-23T12:00Z; the allowed skew is one day.
    response = events_writer.post(URL, event(occurred_at="2026-11-24T12:00:01Z"))

    assert response.status_code == 400
    assert "occurred_at" in response.json()["errors"]


def test_occurred_at_within_the_future_skew_is_accepted(events_writer: Any) -> None:
    response = events_writer.post(URL, event(occurred_at="2026-11-24T11:59:59Z"))

    assert response.status_code == 201


def test_occurred_at_far_in_the_past_is_accepted(events_writer: Any) -> None:
    response = events_writer.post(URL, event(occurred_at="1990-01-01T00:00:00Z"))

    assert response.status_code == 201


def test_unknown_event_type_is_invalid(events_writer: Any) -> None:
    response = events_writer.post(URL, event(type="deploy.exploded"))

    assert response.status_code == 400
    assert "type" in response.json()["errors"]


def test_custom_x_event_type_is_accepted(events_writer: Any) -> None:
    response = events_writer.post(URL, event(type="x.custom"))

    assert response.status_code == 201


def test_a_batch_queues_its_created_events_in_one_outbox_row(events_writer: Any) -> None:
    response = events_writer.post(URL, [event(), event(), event()])

    ids = {r["id"] for r in response.json()["results"]}
    [queued] = EventOutbox.objects.values_list("event_ids", flat=True)
    assert sorted(queued) == sorted(ids)


def test_duplicates_write_no_outbox_row(events_writer: Any) -> None:
    body = event()
    events_writer.post(URL, body)

    events_writer.post(URL, [body, body])

    assert EventOutbox.objects.count() == 1
    assert EventOutbox.pending() == 1


def test_a_batch_queues_only_its_created_events(events_writer: Any) -> None:
    old = event()
    first = events_writer.post(URL, old).json()["results"][0]["id"]

    response = events_writer.post(URL, [old, event()])

    new = response.json()["results"][1]["id"]
    assert sorted(EventOutbox.objects.values_list("event_ids", flat=True)) == [[first], [new]]


def test_conflicts_and_invalid_items_write_no_outbox_row(events_writer: Any) -> None:
    body = event()
    events_writer.post(URL, body)

    events_writer.post(URL, [{**body, "type": "deploy.failed"}, without(event(), "type")])

    assert EventOutbox.objects.count() == 1


def test_stored_ref_keys_are_kind_colon_value(events_writer: Any) -> None:
    response = events_writer.post(
        URL, event(refs={"commit": ["9f1c2e7", "abc1234"], "deploy": ["4711"]})
    )

    stored = WorkEvent.objects.get(pk=response.json()["results"][0]["id"])
    assert sorted(stored.ref_keys) == ["commit:9f1c2e7", "commit:abc1234", "deploy:4711"]


def test_event_without_optional_fields_is_accepted(events_writer: Any) -> None:
    minimal = {"source": "cli", "id": "one", "type": "x.ping", "occurred_at": "2026-11-01T12:00Z"}

    response = events_writer.post(URL, minimal)

    assert response.status_code == 201
    stored = WorkEvent.objects.get()
    assert (stored.actor, stored.team, stored.ai, stored.refs) == (None, None, None, {})


def test_first_post_registers_the_api_source(events_writer: Any) -> None:
    events_writer.post(URL, event(source="release-bot"))

    assert Source.objects.filter(kind="api", slug="release-bot").exists()


def test_a_batch_is_stored_with_a_fixed_number_of_queries(
    events_writer: Any, django_assert_max_num_queries: Any
) -> None:
    events_writer.post(URL, event())  # the key and the source are known from here on

    with django_assert_max_num_queries(QUERIES_PER_BATCH):
        response = events_writer.post(URL, [event() for _ in range(200)])

    assert response.status_code == 201


def test_a_batch_with_duplicates_costs_one_more_query(
    events_writer: Any, django_assert_max_num_queries: Any
) -> None:
    seen = [event() for _ in range(100)]
    events_writer.post(URL, seen)

    with django_assert_max_num_queries(QUERIES_PER_BATCH + 1):
        response = events_writer.post(URL, seen + [event() for _ in range(100)])

    assert response.json()["counts"] == {
        "created": 100,
        "duplicate": 100,
        "conflict": 0,
        "invalid": 0,
    }
