"""Session links (ledger migration 0020): the commits each session made, written with
the ``x.session.commit`` event whoever writes it, and what spend reads instead of
the partitioned events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from ledger.models import SessionLink, Source, WorkEvent
from ledger.partitions import partitions_ensure
from ledger.spend import sessions_reaching_sql, usage_reach_keys_sql
from tests.ledger.factories import event

pytestmark = pytest.mark.django_db


def _links() -> set[tuple[str, str]]:
    return set(SessionLink.objects.values_list("session_key", "commit_key"))


def _rows(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return list(cursor.fetchall())


def test_an_event_posted_to_the_api_writes_a_link_per_session_and_commit(
    events_writer: Any,
) -> None:
    response = events_writer.post(
        "/api/v1/events",
        [
            event(type="x.session.commit", refs={"session": ["s1", "s2"], "commit": ["c1", "c2"]}),
            event(type="x.session.commit", refs={"session": ["s3"], "prompt": ["p1"]}),
            event(type="code.pr.merged", refs={"session": ["s4"], "commit": ["c4"]}),
        ],
    )

    assert response.status_code in (200, 201, 207), response.content
    assert _links() == {
        ("session:s1", "commit:c1"),
        ("session:s1", "commit:c2"),
        ("session:s2", "commit:c1"),
        ("session:s2", "commit:c2"),
    }
    stored = WorkEvent.objects.get(refs__session=["s1", "s2"])
    assert set(SessionLink.objects.values_list("event_id", "received_at")) == {
        (stored.id, stored.received_at)
    }


def test_a_bulk_insert_outside_the_application_writes_its_links_too() -> None:
    source = Source.objects.create(kind="otlp", slug="bulk")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_workevent (source_id, external_id, type, occurred_at,"
            " received_at, refs, ref_keys, attributes)"
            " SELECT %s, 'bulk-' || i, 'x.session.commit', now(), now(),"
            " jsonb_build_object('session', jsonb_build_array('s' || i),"
            " 'commit', jsonb_build_array('c' || i)),"
            " ARRAY['session:s' || i, 'commit:c' || i], '{}'"
            " FROM generate_series(1, 3) i",
            [source.pk],
        )

    assert _links() == {(f"session:s{i}", f"commit:c{i}") for i in (1, 2, 3)}


def test_links_are_append_only(events_writer: Any) -> None:
    events_writer.post(
        "/api/v1/events", event(type="x.session.commit", refs={"session": ["s1"], "commit": ["c1"]})
    )
    for sql in (
        "UPDATE ledger_sessionlink SET commit_key = 'commit:other'",
        "DELETE FROM ledger_sessionlink",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            connection.cursor().execute(sql)
    assert _links() == {("session:s1", "commit:c1")}


def test_spend_reaches_its_sessions_commits_through_the_links_as_of_their_arrival(
    events_writer: Any,
) -> None:
    events_writer.post(
        "/api/v1/events", event(type="x.session.commit", refs={"session": ["s1"], "commit": ["c1"]})
    )
    received = WorkEvent.objects.get(type="x.session.commit").received_at
    reach = usage_reach_keys_sql("u", as_of=True)
    sql = f"SELECT {reach} FROM (SELECT ARRAY['session:s1', 'pr:7']::varchar[] AS ref_keys) u"  # noqa: S608 - fixed SQL

    assert _rows(sql, {"as_of": received})[0][0] == ["session:s1", "pr:7", "commit:c1"]
    before = datetime(2000, 1, 1, tzinfo=UTC)
    assert _rows(sql, {"as_of": before})[0][0] == ["session:s1", "pr:7"]
    sessions = _rows(sessions_reaching_sql("ARRAY['commit:c1', 'commit:zz']::varchar[]"))
    assert sessions == [("session:s1",)]


def test_the_session_lookup_reads_no_partition_of_the_events() -> None:
    """A lookup in the events probed every month's partition (nothing in it names a
    month); the links are one index."""
    partitions_ensure(today=date(2026, 1, 1), ahead=11)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT u.id, " + usage_reach_keys_sql("u") + " FROM ledger_tokenusage u"  # noqa: S608
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(
            "EXPLAIN " + sessions_reaching_sql("ARRAY['commit:c1']::varchar[]").replace("%%", "%")
        )
        plan += "\n".join(row[0] for row in cursor.fetchall())

    assert "ledger_workevent" not in plan
    assert "ledger_sessionlink" in plan
