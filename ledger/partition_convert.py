"""Converting a record table from one heap to monthly partitions.

Both ways build ``<table>_partitioned`` beside the table (the same columns, the
monthly partitions and a default one, the table's foreign keys), copy the rows
into it, build its indexes, and swap it in within one transaction that carries
over the id sequence, the grants and every trigger (append-only, erasure,
report queues) by their own definitions, then drops the old table.

* ``convert_in_place``: the migration, inside its transaction; the table is
  locked while it copies, which suits small installs (``IN_PLACE_MAX_ROWS``).
* ``convert_online``: the ``partition_ledger`` command, for large installs,
  before ``migrate``. Month by month in short transactions while ingest goes on;
  then the records that arrived meanwhile; then the swap, under a lock held only
  for the last few records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from ledger.partitions import (
    MONTHS_AHEAD,
    create_partitions,
    is_partitioned,
    month_start,
    months_between,
    next_month,
    partition_name,
)

# Above this many rows (planner estimate) the migration refuses and asks for the
# online command: copying in place holds the table's lock for the whole copy.
IN_PLACE_MAX_ROWS = 5_000_000
# Records older than this go to the default partition, not a month of their own.
OLDEST_MONTH_YEARS = 10

Report = Callable[[str], None]


def _shadow(table: str) -> str:
    return f"{table}_partitioned"


def _months_of(cursor: CursorWrapper, table: str) -> list[date]:
    """The months to create: from the oldest record's (at most ten years back)
    to ``MONTHS_AHEAD`` after this one."""
    now = datetime.now(UTC).date()
    cursor.execute(f"SELECT min(occurred_at) FROM {table}")  # noqa: S608 - our table name
    oldest = cursor.fetchone()[0]
    floor = month_start(now - timedelta(days=366 * OLDEST_MONTH_YEARS))
    first = max(month_start(oldest.date()), floor) if oldest else month_start(now)
    last = month_start(now)
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    return months_between(min(first, month_start(now)), last)


def _rows_estimate(cursor: CursorWrapper, table: str) -> int:
    cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
    estimate = cursor.fetchone()[0]
    if estimate >= 0:
        return int(estimate)
    cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - never analyzed: count
    return int(cursor.fetchone()[0])


def _sequence(cursor: CursorWrapper, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return str(cursor.fetchone()[0])


def shadow_create(cursor: CursorWrapper, table: str, months: list[date]) -> None:
    shadow = _shadow(table)
    cursor.execute(
        f"CREATE TABLE {shadow} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
        " INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (occurred_at)"
    )
    cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {shadow} DEFAULT")
    create_partitions(cursor, shadow, months, named=table)
    # Before the copy: a foreign key cannot be added NOT VALID to a partitioned
    # table, and validating it later would hold the swap's lock over every row.
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    for name, definition in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {shadow} ADD CONSTRAINT "{name}" {definition}')


def _indexes(cursor: CursorWrapper, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary ORDER BY c.relname",
        [table],
    )
    found = []
    for name, definition, unique in cursor.fetchall():
        if unique:
            raise RuntimeError(f"{name}: a unique index cannot hold across partitions")
        found.append((name, definition.partition(" USING ")[2]))
    return found


def shadow_index(cursor: CursorWrapper, table: str) -> None:
    """The primary key (id, occurred_at) and the table's other indexes, under
    temporary names (``<name>_p``) until the swap."""
    shadow = _shadow(table)
    cursor.execute(
        f"ALTER TABLE {shadow} ADD CONSTRAINT {shadow}_pkey PRIMARY KEY (id, occurred_at)"
    )
    for name, method in _indexes(cursor, table):
        cursor.execute(f"CREATE INDEX {name}_p ON {shadow} USING {method}")


def _at(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _copy(cursor: CursorWrapper, table: str, where: str, params: list[Any]) -> int:
    cursor.execute(
        f"INSERT INTO {_shadow(table)} SELECT * FROM {table} WHERE {where}",  # noqa: S608 - ours
        params,
    )
    copied = int(cursor.rowcount)
    # The copy's deferred foreign-key checks run now: the shadow's indexes and the
    # swap are DDL, which PostgreSQL refuses while checks are pending.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return copied


# Foreign keys into a record table that the conversion may drop: the previous
# release's CostAdjustment.usage, which migration 0015 drops too (the online
# command runs before that migration). Any other one stops the conversion.
DROPPABLE_REFERENCES = {"ledger_costadjustment"}


def _references(cursor: CursorWrapper, table: str) -> list[tuple[str, str]]:
    """(table, constraint) of the foreign keys pointing into ``table``; raises on
    one the conversion may not drop."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint"
        " WHERE confrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    found = cursor.fetchall()
    for source, name in found:
        if source not in DROPPABLE_REFERENCES:
            raise RuntimeError(
                f"{source}.{name} references {table}: a partitioned table cannot be its target"
            )
    return found


def swap(cursor: CursorWrapper, table: str) -> None:
    """Put the shadow in the table's place. Runs in the caller's transaction, with
    the table locked (the migration's own lock, or the online command's)."""
    shadow = _shadow(table)
    cursor.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
        [table],
    )
    triggers = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT a.privilege_type, coalesce(r.rolname, 'PUBLIC')"
        " FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE c.oid = %s::regclass AND a.grantee <> c.relowner",
        [table],
    )
    grants = cursor.fetchall()
    for source, name in _references(cursor, table):
        cursor.execute(f'ALTER TABLE {source} DROP CONSTRAINT "{name}"')
    indexes = [name for name, _ in _indexes(cursor, table)]
    sequence = _sequence(cursor, table)
    cursor.execute(
        "SELECT attidentity FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id'",
        [table],
    )
    if cursor.fetchone()[0]:
        # An identity sequence belongs to its column and dies with it: keep its
        # position in a plain sequence of the same name.
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
        last, called = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY")
        cursor.execute(f"CREATE SEQUENCE {sequence} AS bigint")
        cursor.execute("SELECT setval(%s, %s, %s)", [sequence, last, called])
    else:
        cursor.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    cursor.execute(
        f"ALTER TABLE {shadow} ALTER COLUMN id SET DEFAULT nextval('{sequence}'::regclass)"
    )
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {shadow} RENAME TO {table}")
    cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {shadow}_pkey TO {table}_pkey")
    for name in indexes:
        cursor.execute(f"ALTER INDEX {name}_p RENAME TO {name}")
    cursor.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
    for privilege, role in grants:
        cursor.execute(
            f"GRANT {privilege} ON {table} TO {'PUBLIC' if role == 'PUBLIC' else chr(34) + role + chr(34)}"
        )
    # Created on the partitioned parent, each trigger applies to every partition
    # (row triggers are cloned to each; statement triggers see all of them).
    for definition in triggers:
        cursor.execute(definition)


def convert_in_place(cursor: CursorWrapper, table: str) -> bool:
    """Partition ``table`` inside the caller's transaction. False if it already is.

    Raises RuntimeError above ``IN_PLACE_MAX_ROWS``: run ``partition_ledger`` first.
    """
    if is_partitioned(cursor, table):
        return False
    rows = _rows_estimate(cursor, table)
    if rows > IN_PLACE_MAX_ROWS:
        raise RuntimeError(
            f"{table} holds ~{rows:,} rows: run `manage.py partition_ledger` (online, while the"
            " service runs) before `migrate` (docs/scaling.md)"
        )
    cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    shadow_create(cursor, table, _months_of(cursor, table))
    _copy(cursor, table, "true", [])
    shadow_index(cursor, table)
    swap(cursor, table)
    return True


def _settled_high_water(cursor: CursorWrapper, table: str, report: Report) -> int:
    """The sequence's position, once every transaction that could still insert an
    id at or below it has ended: each id comes from a transaction that began
    before the position was read, so waiting those out leaves no record <= it
    still to come."""
    cursor.execute(f"SELECT last_value FROM {_sequence(cursor, table)}")  # noqa: S608
    high = int(cursor.fetchone()[0])
    cursor.execute("SELECT clock_timestamp()")
    read_at = cursor.fetchone()[0]
    reported_at = 0.0
    while True:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            " AND xact_start < %s",
            [read_at],
        )
        open_transactions = cursor.fetchone()[0]
        if not open_transactions:
            return high
        if time.monotonic() - reported_at > 5:
            report(f"  waiting for {open_transactions} open transaction(s) older than this pass")
            reported_at = time.monotonic()
        time.sleep(0.2)


@dataclass(frozen=True)
class Estimate:
    table: str
    rows: int
    copied_per_second: float
    indexed_per_second: float

    @property
    def seconds(self) -> float:
        if not (self.copied_per_second and self.indexed_per_second):
            return 0.0
        return self.rows / self.copied_per_second + self.rows / self.indexed_per_second


def estimate(table: str, *, sample: int = 20_000) -> Estimate:
    """Time copying ``sample`` recent rows into a scratch table of the same shape,
    then building its indexes (rolled back), and scale both by the table's rows.
    A lower bound: the sample is in memory, index builds grow a little faster than
    the rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        rows = _rows_estimate(cursor, table)
        cursor.execute(
            f"CREATE TEMPORARY TABLE partition_sample (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO partition_sample SELECT * FROM {table} ORDER BY id DESC LIMIT %s",  # noqa: S608
            [sample],
        )
        copied, copying = cursor.rowcount, time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute("ALTER TABLE partition_sample ADD PRIMARY KEY (id, occurred_at)")
        for _, method in _indexes(cursor, table):
            cursor.execute(f"CREATE INDEX ON partition_sample USING {method}")
        indexing = time.perf_counter() - started
        transaction.set_rollback(True)
    return Estimate(
        table=table,
        rows=rows,
        copied_per_second=copied / copying if copying else 0.0,
        indexed_per_second=copied / indexing if indexing else 0.0,
    )


def convert_online(
    table: str,
    *,
    report: Report,
    catch_up_below: int = 1_000,
    after_month: Callable[[date], None] | None = None,
) -> bool:
    """Partition ``table`` while it takes inserts. False if it already is.

    Runs outside any transaction (each month copies in its own). ``after_month``
    is called after each month's copy (progress, tests).
    """
    with connection.cursor() as cursor:
        if is_partitioned(cursor, table):
            report(f"{table}: already partitioned")
            return False
        _references(cursor, table)  # before copying anything
        cursor.execute(f"DROP TABLE IF EXISTS {_shadow(table)}")  # an interrupted run's
        high = _settled_high_water(cursor, table, report)
        months = _months_of(cursor, table)
        with transaction.atomic():
            shadow_create(cursor, table, months)
        for month in months:
            started = time.perf_counter()
            with transaction.atomic():
                copied = _copy(
                    cursor,
                    table,
                    "occurred_at >= %s AND occurred_at < %s AND id <= %s",
                    [_at(month), _at(next_month(month)), high],
                )
            report(
                f"{partition_name(table, month)}: {copied:,} rows in {time.perf_counter() - started:.1f} s"
            )
            if after_month:
                after_month(month)
        with transaction.atomic():
            copied = _copy(
                cursor,
                table,
                "(occurred_at < %s OR occurred_at >= %s) AND id <= %s",
                [_at(months[0]), _at(next_month(months[-1])), high],
            )
        report(f"{table}_default: {copied:,} rows")
        with transaction.atomic():
            shadow_index(cursor, table)
        report(f"{_shadow(table)}: indexes built")
        while True:  # what arrived meanwhile, until little enough for the locked step
            settled = _settled_high_water(cursor, table, report)
            with transaction.atomic():
                copied = _copy(cursor, table, "id > %s AND id <= %s", [high, settled])
            high = settled
            report(f"caught up {copied:,} rows that arrived during the copy")
            if copied < catch_up_below:
                break
        with transaction.atomic():
            started = time.perf_counter()
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            copied = _copy(cursor, table, "id > %s", [high])
            swap(cursor, table)
        report(f"{table}: swapped ({copied:,} last rows) in {time.perf_counter() - started:.2f} s")
    return True
