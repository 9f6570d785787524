"""The outbox migration (ledger 0019): an install's waiting events survive the change
from one row per event to one row per write, and come back on the way down.

The test database has the new shape already (by the migrations), so each test
builds a table of the previous shape beside it and converts that.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

layout = importlib.import_module("ledger.migrations.0019_outbox_one_row_per_write")

OLD = "ledger_oldoutbox"
START = datetime(2026, 11, 1, tzinfo=UTC)


def _rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


@pytest.fixture
def old_outbox(db: None) -> dict[int, datetime]:
    """2,500 waiting events in the previous shape, the latest ids queued first."""
    waiting = {1000 + 3 * n: START + timedelta(seconds=2500 - n) for n in range(2500)}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {OLD} (event_id bigint PRIMARY KEY, created_at timestamptz NOT NULL)"
        )
        cursor.execute(
            f"INSERT INTO {OLD} SELECT * FROM unnest(%s::bigint[], %s::timestamptz[])",  # noqa: S608
            [list(waiting), list(waiting.values())],
        )
    return waiting


def test_waiting_events_are_gathered_into_rows_of_a_batch(old_outbox: dict[int, datetime]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        layout.to_batches(cursor, OLD)

    rows = _rows(f"SELECT id, event_ids, created_at FROM {OLD} ORDER BY id")  # noqa: S608
    assert [len(ids) for _, ids, _ in rows] == [1000, 1000, 500]
    # In id order, every event once, each row as old as its oldest event.
    assert [i for _, ids, _ in rows for i in ids] == sorted(old_outbox)
    for _, ids, created_at in rows:
        assert created_at == min(old_outbox[i] for i in ids)
    # The new shape takes a write as ingest makes it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {OLD} (event_ids, created_at) VALUES (%s, now()) RETURNING id",  # noqa: S608
            [[1, 2]],
        )
        [(new_id,)] = cursor.fetchall()
    assert new_id > rows[-1][0]


def test_going_back_spreads_the_rows_into_one_per_event(old_outbox: dict[int, datetime]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        layout.to_batches(cursor, OLD)
        cursor.execute(
            f"INSERT INTO {OLD} (event_ids, created_at) VALUES (%s, %s)",  # noqa: S608
            [[1000, 5], START],  # an event queued twice comes back once, at its earliest
        )
        cursor.execute(f"SELECT event_ids, created_at FROM {OLD} ORDER BY id")  # noqa: S608
        queued = {i: at for ids, at in cursor.fetchall()[:-1] for i in ids}
        layout.to_rows(cursor, OLD)

    back = dict(_rows(f"SELECT event_id, created_at FROM {OLD}"))  # noqa: S608
    assert back == {**queued, 1000: START, 5: START}
    assert set(back) == {*old_outbox, 5}


def test_an_empty_outbox_converts(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {OLD} (event_id bigint PRIMARY KEY, created_at timestamptz NOT NULL)"
        )
        layout.to_batches(cursor, OLD)
    assert not _rows(f"SELECT 1 FROM {OLD}")  # noqa: S608


def test_a_new_install_has_the_new_shape(db: None) -> None:
    columns = _rows(
        "SELECT column_name, data_type, is_nullable, is_identity FROM information_schema.columns"
        " WHERE table_name = 'ledger_eventoutbox' ORDER BY column_name"
    )
    assert columns == [
        ("created_at", "timestamp with time zone", "NO", "NO"),
        ("event_ids", "ARRAY", "NO", "NO"),
        ("id", "bigint", "NO", "YES"),
    ]
