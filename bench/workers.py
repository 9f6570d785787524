"""More workers, measured: 1, 2 and 4 processes draining the same backlog.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/workers.py [--events 100000] [--workers 1,2,4] [--rounds 1]

A template database (``awu_bench_workers_template``) is migrated and loaded once
with the scoring benchmark's realistic mix (``--events``, through the ingest
service, then VACUUM ANALYZE). For each worker count, a copy of it
(``CREATE DATABASE ... TEMPLATE``) is drained by that many separate processes,
each running ``score_pending`` until it finds nothing to claim, the way Celery
workers claim outbox rows (``FOR UPDATE SKIP LOCKED``). The time counts from the
first process starting to drain to the last one finishing (Django start-up
excluded); the outbox must be empty at the end. Rounds alternate the counts, so
load drift on a shared machine hits each alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TEMPLATE = "awu_bench_workers_template"
RUN = "awu_bench_workers_run"
NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


def _url(name: str) -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(sql: str) -> None:
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        admin.execute(sql)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")
    os.environ.setdefault("AWU_ENV", "development")
    import django

    django.setup()
    from django.conf import settings

    settings.AWU_OUTBOX_WAKE_TASK = ""


def load(count: int) -> None:
    """In the template database: migrate, load ``count`` events, VACUUM ANALYZE."""
    _django()
    from django.core.management import call_command
    from django.db import connection

    from awu.definitions.services import definitions_install_defaults
    from ledger.ingest import events_ingest
    from tests.e2e.stories import mix

    call_command("migrate", verbosity=0)
    definitions_install_defaults(now=NOW - timedelta(days=365))
    events = mix(count=count, now=NOW, seed=1)
    for start in range(0, len(events), 1000):
        events_ingest(items=events[start : start + 1000], now=NOW)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"template: {len(events):,} events in the outbox")


def drain() -> None:
    """One worker: claim until nothing is left; print start, end and events."""
    _django()
    from awu.scoring import services

    started, events = time.time(), 0
    while claimed := services.score_pending(now=NOW):
        events += claimed
    print(f"{started} {time.time()} {events}", flush=True)


def run(workers: int) -> tuple[float, int]:
    _admin(f'DROP DATABASE IF EXISTS "{RUN}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{RUN}" TEMPLATE "{TEMPLATE}"')
    env = {**os.environ, "DATABASE_URL": _url(RUN), "AWU_ENV": "development"}
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--drain"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    lines = [p.communicate()[0].split() for p in processes]
    assert all(p.returncode == 0 for p in processes), "a worker failed"
    with psycopg.connect(_url(RUN)) as conn:
        left = conn.execute(
            "SELECT coalesce(sum(cardinality(event_ids)), 0) FROM ledger_eventoutbox"
        ).fetchone()
    assert left is not None
    assert left[0] == 0, f"{left[0]} events left in the outbox"
    first = min(float(line[0]) for line in lines)
    last = max(float(line[1]) for line in lines)
    return last - first, sum(int(line[2]) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help="Keep an existing template.")
    args = parser.parse_args()
    if args.drain:
        return drain()
    if args.load:
        return load(args.events)
    if not args.reuse:
        _admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{TEMPLATE}"')
        env = {**os.environ, "DATABASE_URL": _url(TEMPLATE), "AWU_ENV": "development"}
        subprocess.run(
            [sys.executable, __file__, "--load", "--events", str(args.events)],
            env=env,
            cwd=ROOT,
            check=True,
        )
    with open("/proc/loadavg") as loadavg:
        print(f"load average before: {loadavg.read().split()[:3]}, cores: {os.cpu_count()}")
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            seconds, events = run(n)
            results[n].append(events / seconds)
            print(
                f"{n} worker(s): {events:,} events in {seconds:.1f} s = {events / seconds:,.0f} events/s"
            )
    base = max(results[counts[0]])
    for n in counts:
        best = max(results[n])
        print(f"{n} worker(s): best {best:,.0f} events/s, {best / base:.2f}x {counts[0]} worker(s)")


if __name__ == "__main__":
    main()
