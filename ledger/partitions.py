"""Monthly partitions of the record tables (WorkEvent, TokenUsage).

Both tables are range-partitioned on ``occurred_at``, one partition per UTC month
(``ledger_workevent_2026_01``), with a default partition (``..._default``) for
records far outside the months created (old backfills, clocks far ahead). Beat
creates the months ahead (``partitions_ensure``); plain SQL rather than
pg_partman, which the embedded PostgreSQL does not ship.

The primary key is ``(id, occurred_at)`` (a unique index on a partitioned table
must hold the partition key); idempotency lives in the unpartitioned key tables,
so it does not depend on it. Django still sees ``id`` as the primary key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

RECORD_TABLES = ("ledger_workevent", "ledger_tokenusage")
MONTHS_AHEAD = 3
# Beat's creations and a retention run never interleave (two beats by mistake included).
_LOCK = "hashtext('ledger_partitions')"


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from ``first``'s to ``last``'s, both included."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def partition_name(table: str, month: date) -> str:
    return f"{table}_{month:%Y_%m}"


def _bound(month: date) -> str:
    return f"{month:%Y-%m-%d} 00:00:00+00"


def is_partitioned(cursor: CursorWrapper, table: str) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    row = cursor.fetchone()
    return row is not None and row[0] == "p"


def create_partitions(
    cursor: CursorWrapper, parent: str, months: Iterable[date], *, named: str = ""
) -> list[str]:
    """Create ``parent``'s partitions for ``months`` that do not exist yet.

    ``named`` is the table the partitions are named after (the final name, when
    ``parent`` is a table being built under another one). A month whose rows
    already sit in the default partition is left there (PostgreSQL would refuse the
    new partition); its records stay counted, only in the default partition.
    """
    created = []
    for month in months:
        name = partition_name(named or parent, month)
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            continue
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {named or parent}_default"  # noqa: S608 - names of ours
            " WHERE occurred_at >= %s AND occurred_at < %s)",
            [_bound(month), _bound(next_month(month))],
        )
        if cursor.fetchone()[0]:
            continue
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {parent}"
            f" FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(next_month(month))}')"
        )
        created.append(name)
    return created


def partitions_ensure(*, ahead: int = MONTHS_AHEAD, today: date | None = None) -> list[str]:
    """Create this month's and the next ``ahead`` months' partitions of both record
    tables where missing. Idempotent; returns the partitions created.

    Runs under an advisory lock and a short lock timeout: creating a partition
    takes a brief exclusive lock on the parent, and waiting behind a long
    transaction would queue every insert behind it. A timeout is retried by the
    next beat, months before the partition is needed.
    """
    months = [month_start(today or datetime.now(UTC).date())]
    for _ in range(ahead):
        months.append(next_month(months[-1]))
    created: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        for table in RECORD_TABLES:
            if is_partitioned(cursor, table):
                created += create_partitions(cursor, table, months)
    return created


def monthly_partitions(cursor: CursorWrapper, table: str) -> list[tuple[date, str]]:
    """(month, partition) for every monthly partition attached to ``table``, in order."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [table],
    )
    found = []
    for (name,) in cursor.fetchall():
        suffix = name.removeprefix(f"{table}_")
        try:
            found.append((datetime.strptime(suffix + "+0000", "%Y_%m%z").date(), name))
        except ValueError:
            continue  # the default partition
    return found


def partitions_detach(*, before: date, apply: bool) -> list[str]:
    """Detach every monthly partition of the record tables whose month ends on or
    before ``before`` (a month's first day). The detached tables stay in the
    database under their names, outside the ledger, for the operator to archive
    and drop (docs/operations.md, retention). Returns the partitions (to be)
    detached; without ``apply`` nothing changes.
    """
    detached = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        for table in RECORD_TABLES:
            for month, name in monthly_partitions(cursor, table):
                if next_month(month) <= before:
                    if apply:
                        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
                    detached.append(name)
    return detached
