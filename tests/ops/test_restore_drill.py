"""The restore drill: back up a complete ledger the way docs/operations.md says,
restore it into an empty database, and run the service on it.

Full restore (``pg_dump --format=custom`` / ``pg_restore``): every report answers
byte for byte what it answered before; the outbox and the rollup queues come back
row for row, and the work waiting in them is scored once by a worker started on
the restored database (its reports then equal the original's after the same
work); the triggers are all there, and the append-only ones still refuse UPDATE
and DELETE.

Point in time (base backup + WAL archive, on a throwaway cluster of our own):
recovering to a moment between two batches keeps the first and loses the second,
whose idempotency keys are free again, so re-sending it stores it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command

from tests.conftest import forget_process_caches
from tests.e2e import stories
from tests.e2e.conftest import Stack, _database_url, wait_for
from tests.ledger.factories import usage
from tests.ops import drill_ledger, pgtools
from tests.ops.pgtools import rows, triggers
from tests.ops.service import pg_tool, stack_on
from tests.reliability.conftest import skip_or_fail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Work posted after the reports were read and left unscored: it falls on the day
# after the reports' period, so it changes no answer until asked about.
WAITING_DAY = "2026-11-23T09:00:00Z"
WIDER = {"from": drill_ledger.PERIOD["from"], "to": "2026-11-23"}
APPEND_ONLY = (
    "ledger_workevent", "ledger_tokenusage", "ledger_costadjustment",
    "ledger_eventkey", "ledger_usagekey", "scoring_awuentry",
)  # fmt: skip


@dataclass
class Source:
    url: str
    env: dict[str, str]
    tmp: Path


@pytest.fixture(scope="module")
def source(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """The test database holding the drill's ledger (committed; flushed after)."""
    forget_process_caches()
    tmp = tmp_path_factory.mktemp("drill")
    with django_db_blocker.unblock():
        url = _database_url()
        env = drill_ledger.command_environment(url, tmp / "data", settings.SECRET_KEY)
        try:
            drill_ledger.ledger_build(env)
            yield Source(url, env, tmp)
        finally:
            call_command("flush", interactive=False, verbosity=0)
            forget_process_caches()


def queue_tables(url: str) -> list[str]:
    """The scoring outbox and every rollup queue."""
    return [
        name
        for (name,) in rows(
            url,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND "
            "(tablename = 'ledger_eventoutbox' OR tablename LIKE 'reports\\_%queue') "
            "ORDER BY 1",
        )
    ]


def table_contents(url: str, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    return {t: rows(url, f'SELECT * FROM "{t}" ORDER BY 1') for t in tables}  # noqa: S608


def row_counts(url: str) -> dict[str, int]:
    tables = [
        t for (t,) in rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    return {t: rows(url, f'SELECT count(*) FROM "{t}"')[0][0] for t in sorted(tables)}  # noqa: S608


def append_only_probe(url: str, table: str, operation: str) -> str:
    """An UPDATE (of the first column to itself) or a DELETE of every row."""
    [(column,)] = rows(
        url,
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = 1",
        [table],
    )
    if operation == "UPDATE":
        return f'UPDATE "{table}" SET "{column}" = "{column}"'  # noqa: S608 - our own names
    return f'DELETE FROM "{table}"'  # noqa: S608


def post(running: Stack, key: str, path: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{running.base_url}{path}", json=body, headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def waiting_work() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Contracts signed (each scored into one unit, maturing over 30 days) and their spend."""
    start = datetime.fromisoformat(WAITING_DAY)
    events = [e for n in range(5) for e in stories.contract(f"drill{n}", start)]
    spend = [
        usage(id=f"drill-usage-{n}", occurred_at=WAITING_DAY, actor="lee@example.com")
        for n in range(5)
    ]
    return events, spend


def write_key(env: dict[str, str]) -> str:
    out = drill_ledger.manage(env, "create_api_key", "drill-writer", "--scope", "events:write",
                              "--scope", "usage:write")  # fmt: skip
    return out.split()[-1]


def test_a_restored_dump_answers_as_before_and_scores_the_waiting_work_once(
    source: Source,
) -> None:
    key = drill_ledger.reader_key(source.env)
    writer = write_key(source.env)
    events, spend = waiting_work()
    original = stack_on(source.url, source.env, source.tmp / "logs-source", worker=False)
    try:
        before = drill_ledger.answers(original.base_url, key)
        # Waiting work: stored, queued for scoring and for the rollups, not yet
        # scored (no worker runs) nor read by a report.
        assert {r["status"] for r in post(original, writer, "/api/v1/events", events)} == {
            "created"
        }
        assert {r["status"] for r in post(original, writer, "/api/v1/token-usage", spend)} == {
            "created"
        }
    finally:
        original.stop()
    queues = queue_tables(source.url)
    waiting = table_contents(source.url, queues)
    [(waiting_events,)] = rows(
        source.url, "SELECT sum(cardinality(event_ids)) FROM ledger_eventoutbox"
    )
    assert waiting_events == len(events)
    assert sum(map(len, waiting.values())) > len(events), "nothing queued for the rollups"
    counts = row_counts(source.url)

    # The backup and the restore, as docs/operations.md gives them.
    dump = source.tmp / "awu.dump"
    pgtools.run(pg_tool(source.url, "pg_dump"), "--format=custom", "--file", dump, source.url)
    name = f"{source.url.rsplit('/', 1)[1].split('?')[0]}_restored"
    restored = pgtools.database_recreate(source.url, name)
    try:
        started = time.monotonic()
        pgtools.run(pg_tool(source.url, "pg_restore"), "--no-owner", "--exit-on-error",
                    "--dbname", restored, dump)  # fmt: skip
        pgtools.run(pg_tool(source.url, "vacuumdb"), "--analyze-only", "--dbname", restored)
        drill_ledger.manage({**source.env, "DATABASE_URL": restored}, "migrate")
        took = time.monotonic() - started
        print(
            f"\nrestore of the drill ledger ({dump.stat().st_size:,} bytes, "
            f"{sum(counts.values()):,} rows): {took:.1f} s (pg_restore, analyze, migrate)"
        )

        assert row_counts(restored) == counts
        assert table_contents(restored, queues) == waiting
        assert triggers(restored) == triggers(source.url)
        for table in APPEND_ONLY:
            with pytest.raises(psycopg.DatabaseError, match="append-only"):
                rows(restored, append_only_probe(restored, table, "UPDATE"))
            with pytest.raises(psycopg.DatabaseError, match="append-only"):
                rows(restored, append_only_probe(restored, table, "DELETE"))

        # The service on the restored database, and on the original for comparison.
        stacks = [
            stack_on(url, source.env, source.tmp / f"logs-{n}", worker=True)
            for n, url in enumerate((restored, source.url))
        ]
        try:
            for url in (restored, source.url):
                wait_for(
                    lambda url=url: not rows(url, "SELECT 1 FROM ledger_eventoutbox LIMIT 1"),
                    timeout=60,
                    what="the waiting work to be scored",
                )
                # The scored units' rollups brought up to date (waiting for a refresh
                # beat may be running: a report would read the rollups as they stand).
                drill_ledger.manage({**source.env, "DATABASE_URL": url}, "refresh_rollups")
            after = drill_ledger.answers(stacks[0].base_url, key)
            assert after == before
            wider = [q.replace(drill_ledger.PERIOD["to"], WIDER["to"]) for q in before]
            assert set(wider).isdisjoint(before)
            assert drill_ledger.answers(stacks[0].base_url, key, wider) == (
                drill_ledger.answers(stacks[1].base_url, key, wider)
            )
        finally:
            for running in stacks:
                running.stop()
        # Scored once: one unit per waiting contract, maturing (no entry before its
        # 30 days have passed).
        scored = rows(
            restored,
            "SELECT e.external_id, count(DISTINCT u.id) FILTER (WHERE u.state = 'pending'),"
            " count(a.id) FROM ledger_workevent e "
            "LEFT JOIN scoring_workunit u ON u.trigger_event_id = e.id "
            "LEFT JOIN scoring_awuentry a ON a.unit_id = u.id "
            "WHERE e.external_id = ANY(%s) GROUP BY 1",
            [[e["id"] for e in events]],
        )
        assert sorted(scored) == sorted((e["id"], 1, 0) for e in events)
    finally:
        pgtools.database_drop(source.url, name)


def test_recovery_to_a_point_between_two_batches_keeps_the_first_and_frees_the_second(
    tmp_path: Path,
) -> None:
    folder = pgtools.cluster_binaries()
    if folder is None:
        skip_or_fail("no initdb/pg_ctl/pg_basebackup on this machine for a throwaway cluster")
    user = pgtools.cluster_user()
    if os.geteuid() == 0 and user is None:
        skip_or_fail("running as root with no 'postgres' user to run a throwaway cluster as")
    root = pgtools.cluster_root(user)
    primary = pgtools.archiving_cluster(folder, root, user)  # type: ignore[arg-type]
    recovered: pgtools.Cluster | None = None
    try:
        url = pgtools.database_recreate(primary.url, "awu")
        env = drill_ledger.command_environment(url, tmp_path / "data", settings.SECRET_KEY)
        drill_ledger.manage(env, "prepare")
        writer = write_key(env)
        base = pgtools.base_backup(primary, root)
        first = stories.mix(count=60, now=datetime.fromisoformat(WAITING_DAY), seed=1)
        second = stories.mix(count=60, now=datetime.fromisoformat(WAITING_DAY), seed=2)
        running = stack_on(url, env, tmp_path / "logs-primary", worker=False)
        try:
            assert {r["status"] for r in post(running, writer, "/api/v1/events", first)} == {
                "created"
            }
            with psycopg.connect(url) as conn:
                # The moment to recover to: after the first batch committed, before
                # the second began.
                time.sleep(0.5)
                target = conn.execute("SELECT clock_timestamp()::text").fetchone()[0]  # type: ignore[index]
                time.sleep(0.5)
            assert {r["status"] for r in post(running, writer, "/api/v1/events", second)} == {
                "created"
            }
        finally:
            running.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            # The segment in use is closed and goes to the archive.
            segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]  # type: ignore[index]
        wait_for(lambda: (root / "archive" / segment).exists(), timeout=30, what="the WAL archive")
        primary.stop()

        started = time.monotonic()
        recovered = pgtools.recovered_cluster(primary, base, root, target_time=target)
        print(f"\npoint-in-time recovery: {time.monotonic() - started:.1f} s")
        back = pgtools.with_database(recovered.url, "awu")
        stored = {i for (i,) in rows(back, "SELECT external_id FROM ledger_workevent")}
        assert stored == {e["id"] for e in first}
        env = {**env, "DATABASE_URL": back}
        running = stack_on(back, env, tmp_path / "logs-recovered", worker=False)
        try:
            # The lost batch is sent again by its senders: its keys are free.
            assert {r["status"] for r in post(running, writer, "/api/v1/events", second)} == {
                "created"
            }
            assert {r["status"] for r in post(running, writer, "/api/v1/events", first)} == {
                "duplicate"
            }
        finally:
            running.stop()
    finally:
        for cluster in (recovered, primary):
            if cluster is not None:
                cluster.stop()
        subprocess.run(["rm", "-rf", str(root)], check=False)
