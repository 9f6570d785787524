"""Rollup refresh benchmark: new usage on a busy day, added vs the day recomputed.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/rollups.py [--day-rows 300000] [--new-rows 1000] [--rounds 5]

1. Makes a fresh database ``awu_bench_rollups`` and migrates it.
2. COPYs ``--day-rows`` token-usage records onto one UTC day (1,000 people in 10
   teams, four models, 30% with a session ref), then builds the rollups.
3. Each round COPYs ``--new-rows`` more records onto the same day and times
   ``rollups_refresh()``, which adds their sums to the day's rows; then, as the
   baseline in the same run, times recomputing that day's usage rollups (and its
   month's) from the raw tables, which is what every refresh did before.
4. Checks that the rollups still equal a plain SUM over the raw table.

Prints the medians and the ratio (baseline / refresh). Goal: the refresh costs
what arrived, not what the day holds (ratio >= 20 at 300,000 rows a day).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")
os.environ.setdefault("AWU_ENV", "development")

from bench.harness import bench_database_url  # noqa: E402

DAY = date(2026, 3, 2)
PEOPLE, TEAMS = 1000, 10
MODELS = ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5"]
COLUMNS = [
    "source_id", "external_id", "occurred_at", "received_at", "actor", "provider", "model",
    "input_tokens", "output_tokens", "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens", "cache_read_input_tokens", "cost_usd", "cost_source",
    "refs", "ref_keys", "attributes",
]  # fmt: skip


def _people(conn: psycopg.Connection) -> int:  # type: ignore[type-arg]
    """People, identities, teams and memberships; returns the usage source id."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with conn.cursor() as c:
        c.execute(
            "INSERT INTO ledger_source (kind, slug, name, secret_encrypted,"
            " previous_secret_encrypted, config, enabled, created_at)"
            " VALUES ('api', 'gateway', '', '', '', '{}', true, now()) RETURNING id"
        )
        source_id: int = c.fetchone()[0]  # type: ignore[index]
        for t in range(TEAMS):
            c.execute(
                "INSERT INTO ledger_team (slug, name, domain, created_at)"
                " VALUES (%s, %s, 'engineering', now())",
                (f"team-{t}", f"Team {t}"),
            )
        c.execute("SELECT id FROM ledger_team ORDER BY slug")
        teams = [r[0] for r in c.fetchall()]
        for p in range(PEOPLE):
            c.execute(
                "INSERT INTO ledger_person (name, email, created_at) VALUES (%s, %s, now())"
                " RETURNING id",
                (f"Person {p}", f"p{p}@example.com"),
            )
            person: int = c.fetchone()[0]  # type: ignore[index]
            c.execute(
                "INSERT INTO ledger_identity (value, person_id, created_at) VALUES (%s, %s, now())",
                (f"p{p}@example.com", person),
            )
            c.execute(
                "INSERT INTO ledger_membership (person_id, team_id, valid_from)"
                " VALUES (%s, %s, %s)",
                (person, teams[p % TEAMS], start),
            )
    return source_id


def _copy_usage(conn: psycopg.Connection, source_id: int, first: int, count: int) -> None:  # type: ignore[type-arg]
    rng = random.Random(first)
    midnight = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY ledger_tokenusage ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for i in range(first, first + count):
            when = midnight + timedelta(seconds=rng.randrange(86400))
            person = min(PEOPLE - 1, int(rng.paretovariate(1.2)) * 7 % PEOPLE)
            session = rng.randrange(50_000) if rng.random() < 0.3 else None
            refs = f'{{"session": ["s{session}"]}}' if session is not None else "{}"
            keys = f"{{session:s{session}}}" if session is not None else "{}"
            copy.write_row(
                (source_id, f"u{i}", when, when, f"p{person}@example.com", "anthropic",
                 MODELS[i % 4], rng.randint(100, 20000), rng.randint(10, 2000), 0, 0,
                 rng.randint(0, 50000), f"{rng.uniform(0.001, 0.5):.6f}", "reported", refs,
                 keys, "{}")
            )  # fmt: skip
    conn.commit()


def _recompute_day() -> None:
    """The baseline: the day's usage rollups and its month's and week's, recomputed whole."""
    from django.db import transaction

    from awu.reports.rollups import recompute

    with transaction.atomic():
        recompute.usage_days_rebuild({DAY})
        recompute.periods_rebuild("usage", {DAY})


def _rollups_equal_raw() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT sum(records) FROM reports_usagerollup),"
            " (SELECT sum(records) FROM reports_usagemonthrollup),"
            " (SELECT count(*) FROM ledger_tokenusage),"
            " (SELECT sum(cost_usd) FROM reports_usagerollup),"
            " (SELECT sum(cost_usd) FROM reports_usagemonthrollup),"
            " (SELECT sum(cost_usd) FROM ledger_tokenusage)"
        )
        daily, monthly, raw, daily_cost, monthly_cost, raw_cost = cursor.fetchone()
    return bool(daily == monthly == raw and daily_cost == monthly_cost == raw_cost)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--day-rows", type=int, default=300_000)
    parser.add_argument("--new-rows", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = bench_database_url("awu_bench_rollups")
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    from awu.reports.rollups import rollups_refresh

    call_command("migrate", verbosity=0)
    conn = psycopg.connect(url)
    source_id = _people(conn)
    started = time.perf_counter()
    _copy_usage(conn, source_id, 0, args.day_rows)
    conn.execute("ANALYZE")
    conn.commit()
    print(
        f"loaded {args.day_rows:,} usage records on {DAY} in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    rollups_refresh(full=True)
    print(f"built the rollups in {time.perf_counter() - started:.1f} s")

    refresh, recompute = [], []
    next_id = args.day_rows
    for _ in range(args.rounds):
        _copy_usage(conn, source_id, next_id, args.new_rows)
        next_id += args.new_rows
        started = time.perf_counter()
        stats = rollups_refresh()
        refresh.append(time.perf_counter() - started)
        if stats.usage_added != args.new_rows or stats.usage_days:
            sys.exit(f"the refresh did not take the added path: {stats}")
        started = time.perf_counter()
        _recompute_day()
        recompute.append(time.perf_counter() - started)
    conn.close()
    fast, slow = statistics.median(refresh), statistics.median(recompute)
    print(
        f"{args.rounds} rounds of {args.new_rows:,} new records on a day of "
        f"{args.day_rows:,}+: refresh (sums added) p50 {fast * 1000:,.1f} ms "
        f"[{', '.join(f'{s * 1000:.0f}' for s in refresh)}]; day recomputed (baseline) "
        f"p50 {slow * 1000:,.1f} ms [{', '.join(f'{s * 1000:.0f}' for s in recompute)}]; "
        f"ratio {slow / fast:,.1f}x (goal >= 20x)"
    )
    print(f"rollups equal the raw table: {_rollups_equal_raw()}")


if __name__ == "__main__":
    main()
