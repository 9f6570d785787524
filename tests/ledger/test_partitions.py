"""The record tables are range-partitioned by month, from the migrations on."""

from __future__ import annotations

import threading
from datetime import date
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from ledger.models import TokenUsage, WorkEvent
from ledger.partitions import RECORD_TABLES, partitions_detach, partitions_ensure
from tests.ledger.factories import event, usage

pytestmark = pytest.mark.django_db


def _one(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("table", RECORD_TABLES)
def test_a_new_install_has_partitioned_record_tables(table: str) -> None:
    assert _one("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [table]) == "p"
    key = _one(
        "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)"
        " WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
        [table],
    )
    assert sorted(key) == ["id", "occurred_at"]
    assert _one("SELECT to_regclass(%s) IS NOT NULL", [f"{table}_default"])
    assert _one("SELECT to_regclass(%s) IS NOT NULL", [f"{table}_{date.today():%Y_%m}"])


def test_records_in_any_partition_stay_append_only(events_writer: Any) -> None:
    partitions_ensure(today=date(2026, 11, 1), ahead=0)
    events_writer.post("/api/v1/events", event(id="now"))
    events_writer.post("/api/v1/events", event(id="far", occurred_at="2001-01-01T00:00:00Z"))
    for external_id in ["now", "far"]:
        for sql in [
            "UPDATE ledger_workevent SET type = 'x' WHERE external_id = %s",
            "DELETE FROM ledger_workevent WHERE external_id = %s",
        ]:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                connection.cursor().execute(sql, [external_id])
    assert _one("SELECT count(*) FROM ledger_workevent_default") == 1


def test_the_report_queues_still_fire_on_the_partitioned_tables(
    events_writer: Any, usage_writer: Any
) -> None:
    stored = usage_writer.post("/api/v1/token-usage", usage()).json()["results"][0]["id"]
    events_writer.post(
        "/api/v1/events", event(type="x.session.commit", refs={"session": ["s1"], "commit": ["c1"]})
    )
    commit = WorkEvent.objects.get(type="x.session.commit").id

    assert _one("SELECT count(*) FROM reports_usagequeue WHERE usage_id = %s", [stored]) == 1
    assert _one("SELECT count(*) FROM reports_eventqueue WHERE event_id = %s", [commit]) == 1


def test_beat_creates_the_months_ahead_once() -> None:
    created = partitions_ensure(today=date(2040, 11, 20), ahead=3)

    expected = [
        f"{t}_{m}" for t in RECORD_TABLES for m in ["2040_11", "2040_12", "2041_01", "2041_02"]
    ]
    assert created == expected
    assert partitions_ensure(today=date(2040, 11, 20), ahead=3) == []


def test_a_month_already_in_the_default_partition_is_left_there(usage_writer: Any) -> None:
    usage_writer.post("/api/v1/token-usage", usage(occurred_at="2020-05-02T00:00:00Z"))

    created = partitions_ensure(today=date(2020, 5, 1), ahead=0)

    assert created == ["ledger_workevent_2020_05"]
    assert TokenUsage.objects.filter(occurred_at__year=2020).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_beats_creating_partitions_at_once_do_no_harm() -> None:
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            partitions_ensure(today=date(2042, 1, 1), ahead=2)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        names = [f"{t}_2042_0{m}" for t in RECORD_TABLES for m in (1, 2, 3)]
        assert _one("SELECT count(*) FROM pg_class WHERE relname = ANY(%s)", [names]) == 6
    finally:
        with connection.cursor() as cursor:
            for table in RECORD_TABLES:
                for month in ["2042_01", "2042_02", "2042_03"]:
                    cursor.execute(f"DROP TABLE IF EXISTS {table}_{month}")


def test_retention_detaches_old_months_and_keeps_the_rest(events_writer: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE ledger_workevent_2003_04 PARTITION OF ledger_workevent"
            " FOR VALUES FROM ('2003-04-01 00:00:00+00') TO ('2003-05-01 00:00:00+00')"
        )
    events_writer.post("/api/v1/events", event(id="old", occurred_at="2003-04-02T00:00:00Z"))
    events_writer.post("/api/v1/events", event(id="kept"))

    assert partitions_detach(before=date(2003, 5, 1), apply=False) == ["ledger_workevent_2003_04"]
    assert WorkEvent.objects.filter(external_id="old").exists()
    call_command("detach_partitions", "--before", "2003-05", "--apply", stdout=StringIO())

    assert list(WorkEvent.objects.values_list("external_id", flat=True)) == ["kept"]
    assert _one("SELECT count(*) FROM ledger_workevent_2003_04") == 1  # kept aside, detached
