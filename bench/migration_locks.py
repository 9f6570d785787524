"""Migration locks: what each migration locks on the big tables, and for how long.

Usage (results go in docs/operations.md, Upgrading)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/migration_locks.py --rows 1000000 \\
        [--back-to ledger:0004_idempotency_keys_one_index --back-to reports:0002_month_rollups]

A fresh database (``--database``) is migrated to the latest migrations and
filled with ``--rows`` token-usage records and ``--events`` work events (default:
as many), generated in SQL (1% of the usage derived from metrics; the append-only
and queue triggers off while loading; then ANALYZE). Then it migrates back to ``--back-to`` (each
APP:MIGRATION; the ledger cannot go below 0004, whose reverse is a no-op) and
forward again one migration at a time, in the order ``migrate --plan`` gives.
While each runs, a second connection polls ``pg_locks`` every 10 ms for the locks
the migrating connection holds on the big tables: the strongest mode seen, and
for how long an ACCESS EXCLUSIVE lock (which blocks reads too) was seen held.
A lock held for less than the polling interval may not be seen; Django runs each
migration in one transaction, so a lock taken is held until that migration ends.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

BIG = ("ledger_tokenusage", "ledger_workevent", "ledger_eventkey", "ledger_usagekey",
       "scoring_awuentry", "scoring_workunit")  # fmt: skip
# Weakest first (PostgreSQL's table lock modes).
MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
         "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")  # fmt: skip
APP_NAME = "awu-migration-bench"

FILL = """
SET session_replication_role = replica;  -- no append-only or queue triggers while loading
INSERT INTO ledger_source (kind, slug, name, secret_encrypted, previous_secret_encrypted,
    enabled, config, created_at)
VALUES ('api', 'bench', 'bench', '', '', true, '{{}}', now()) ON CONFLICT DO NOTHING;
INSERT INTO ledger_tokenusage (external_id, occurred_at, received_at, actor, team, provider,
    model, input_tokens, output_tokens, cache_creation_input_tokens,
    cache_creation_1h_input_tokens, cache_read_input_tokens, cost_usd, cost_source, refs,
    ref_keys, attributes, source_id, grain)
SELECT 'u' || n, now() - (n % 8640) * interval '1 hour', now(), 'dev' || (n % 500) || '@example.com',
    NULL, 'anthropic', 'claude-sonnet-4-5', 1000 + n % 5000, 200, 0, 0, 0, 0.01, 'reported',
    jsonb_build_object('session', jsonb_build_array('cc-' || (n % 100000))),
    ARRAY['session:cc-' || (n % 100000)],
    CASE WHEN n % 100 = 0 THEN '{{"derived_from": "metrics"}}'::jsonb ELSE '{{}}'::jsonb END,
    (SELECT id FROM ledger_source WHERE slug = 'bench'), 'request'
FROM generate_series(1, {rows}) AS n;
INSERT INTO ledger_workevent (external_id, type, occurred_at, received_at, actor, team,
    subject, refs, ref_keys, ai, attributes, source_id)
SELECT 'e' || n, 'code.pr.merged', now() - (n % 8640) * interval '1 hour', now(),
    'dev' || (n % 500) || '@example.com', NULL, 'test:' || n,
    jsonb_build_object('pr', jsonb_build_array('acme/api#' || n)), ARRAY['pr:acme/api#' || n],
    NULL, '{{}}', (SELECT id FROM ledger_source WHERE slug = 'bench')
FROM generate_series(1, {events}) AS n;
"""


@dataclass
class Watch:
    """Locks the migrating connection holds on the big tables, polled."""

    url: str
    strongest: dict[str, str] = field(default_factory=dict)
    exclusive: dict[str, list[float]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                now = time.monotonic()
                held = conn.execute(
                    "SELECT c.relname, l.mode FROM pg_locks l "
                    "JOIN pg_class c ON c.oid = l.relation "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE a.application_name = %s AND l.granted AND c.relname = ANY(%s)",
                    [APP_NAME, list(BIG)],
                ).fetchall()
                for table, mode in held:
                    if MODES.index(mode) > MODES.index(self.strongest.get(table, MODES[0])):
                        self.strongest[table] = mode
                    if mode == "AccessExclusiveLock":
                        seen = self.exclusive.setdefault(table, [now, now])
                        seen[1] = now
                time.sleep(0.01)


def migrate(env: dict[str, str], url: str, *args: str) -> tuple[float, Watch]:
    watch = Watch(url)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", *args, "--verbosity", "0"],
        cwd=ROOT, env={**env, "PGAPPNAME": APP_NAME}, check=True,
    )  # fmt: skip
    took = time.monotonic() - started
    watch.stop.set()
    thread.join()
    return took, watch


def plan(env: dict[str, str]) -> list[tuple[str, str]]:
    out = harness.manage(env, "migrate", "--plan")
    steps = []
    for line in out.splitlines():
        head = line.strip().split(" ", 1)[0]
        if "." in head and line.startswith(head):
            app, name = head.split(".", 1)
            steps.append((app, name))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, help="Work events (default: --rows).")
    parser.add_argument("--database", default="awu_bench_migrations")
    parser.add_argument(
        "--back-to",
        action="append",
        help="APP:MIGRATION to migrate back to before measuring (repeatable).",
    )
    args = parser.parse_args()
    back_to = args.back_to or [
        "reports:0002_month_rollups",
        "ledger:0004_idempotency_keys_one_index",
    ]
    events = args.rows if args.events is None else args.events
    url = harness.bench_database_url(args.database)
    env = harness.environment(url)
    env.pop("AWU_NOW", None)
    harness.manage(env, "migrate", "--verbosity", "0")
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in FILL.format(rows=args.rows, events=events).split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("ANALYZE")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('ledger_tokenusage')), "
            "pg_size_pretty(pg_total_relation_size('ledger_workevent'))"
        ).fetchone()
    print(f"filled {args.rows:,} usage records ({size[0]}) and {events:,} events "  # type: ignore[index]
          f"({size[1]}) in {time.monotonic() - started:.0f} s")  # type: ignore[index]  # fmt: skip
    for target in back_to:
        app, name = target.split(":", 1)
        harness.manage(env, "migrate", app, name, "--verbosity", "0")
    steps = plan(env)
    print(
        f"{'migration':<48} {'seconds':>8}  locks on big tables (strongest seen; ACCESS EXCLUSIVE held)"
    )
    for app, name in steps:
        took, watch = migrate(env, url, app, name)
        locks = ", ".join(
            f"{table} {mode.removesuffix('Lock')}"
            + (f" {end - start + 0.01:.2f} s" if (span := watch.exclusive.get(table)) and
               (start := span[0]) is not None and (end := span[1]) is not None else "")
            for table, mode in sorted(watch.strongest.items())
        )  # fmt: skip
        print(f"{app + '.' + name:<48} {took:>8.1f}  {locks or '-'}")
    print(
        f"(seconds: the whole `manage.py migrate` step, ~2 s of it Django starting; PID {os.getpid()})"
    )


if __name__ == "__main__":
    main()
