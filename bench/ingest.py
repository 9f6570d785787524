"""Ingest benchmark: the real endpoint against raw COPY and a bare Django view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.ingest

Makes a fresh database ``awu_bench_ingest`` on that server, starts gunicorn with 2
workers, and prints, in one run:

1. batch ingest (1,000-item batches over keep-alive connections) in events/s,
   the same rows loaded by psycopg's COPY into a table of the same shape, and
   the ratio (goal >= 0.25);
2. single-event ingest req/s and p50/p99 against a bare Django view doing one
   INSERT of the same row into a table of the same shape and indexes, on the same
   gunicorn, and the ratio (goal >= 0.6).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

from bench.harness import bench_database_url, environment, gunicorn, manage, merge, post_load

TYPES = [
    ("code.pr.merged", 0.25),
    ("deploy.succeeded", 0.2),
    ("ticket.resolved", 0.2),
    ("crm.opportunity.stage_changed", 0.15),
    ("contract.signed", 0.05),
    ("incident.opened", 0.05),
    ("content.traffic", 0.1),
]


def make_events(n: int, *, seed: int, prefix: str) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names, weights = zip(*TYPES, strict=True)
    events = []
    for i in range(n):
        kind = rng.choices(names, weights)[0]
        sha = f"{rng.getrandbits(160):040x}"
        events.append(
            {
                "source": "bench-bot",
                "id": f"{prefix}-{i}",
                "type": kind,
                "occurred_at": (start + timedelta(seconds=i * 7))
                .isoformat()
                .replace("+00:00", "Z"),
                "actor": f"user{rng.randrange(1000)}@example.com",
                "team": f"team-{rng.randrange(10)}",
                "subject": f"github:acme/repo{rng.randrange(50)}#{i}",
                "refs": {"commit": [sha], "pr": [f"acme/repo#{i}"]},
                "ai": {"assisted": rng.random() < 0.5, "share": round(rng.random(), 2)},
                "attributes": {
                    "base_branch": "main",
                    "default_branch": "main",
                    "additions": rng.randrange(500),
                    "deletions": rng.randrange(200),
                    "environment": "production",
                },
            }
        )
    return events


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_cpu(database_url: str, port: int) -> float:
    """CPU so far of this run's gunicorn processes and of the database's backends.

    Both run on this machine (loopback), and their CPU is what the batch load costs
    whatever else shares the cores: the wall clock is not, on a loaded machine.
    The backends live across requests (CONN_MAX_AGE), so their counters cover it.
    """
    needle = f"127.0.0.1:{port}".encode()
    web = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                if b"awu.wsgi:application" in cmdline and needle in cmdline:
                    web += cpu_seconds(int(entry.name))
            except OSError:
                continue  # a process that ended meanwhile
    with psycopg.connect(database_url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    backends = 0.0
    for (pid,) in pids:
        try:
            backends += cpu_seconds(pid)
        except OSError:
            continue
    return web + backends


COPY_CPU: list[float] = []  # CPU (client + backend) of each copy_baseline run


def copy_baseline(database_url: str, events: list[dict[str, object]]) -> float:
    """Seconds to COPY the same rows into a table shaped like ledger_workevent."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE ledger_workevent INCLUDING ALL)")
        source_id = conn.execute("SELECT min(id) FROM ledger_source").fetchone()[0] or 1  # type: ignore[index]
        now = datetime.now(UTC)
        started = time.perf_counter()
        cpu_started = time.process_time() + cpu_seconds(backend)
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_copy (id, source_id, external_id, type, occurred_at, received_at, actor,"
                " team, subject, refs, ref_keys, ai, attributes) FROM STDIN"
            ) as copy,
        ):
            for index, event in enumerate(events, start=1):
                refs = event["refs"]
                copy.write_row(
                    (
                        index,
                        source_id,
                        event["id"],
                        event["type"],
                        event["occurred_at"],
                        now,
                        event["actor"],
                        event["team"],
                        event["subject"],
                        orjson.dumps(refs).decode(),
                        [f"{k}:{v}" for k, vs in refs.items() for v in vs],  # type: ignore[attr-defined]
                        orjson.dumps(event["ai"]).decode(),
                        orjson.dumps(event["attributes"]).decode(),
                    )
                )
        elapsed = time.perf_counter() - started
        COPY_CPU.append(time.process_time() + cpu_seconds(backend) - cpu_started)
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-events", type=int, default=100_000)
    parser.add_argument("--single-requests", type=int, default=4_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--database", default="awu_bench_ingest", help="the scratch database (dropped and made)"
    )
    args = parser.parse_args()

    database_url = bench_database_url(args.database)
    # The scoring wake-ups are sent as in production (to the local filesystem
    # broker; no worker consumes them here).
    env = environment(database_url, AWU_ROOT_URLCONF="bench.urls")
    manage(env, "migrate", "--verbosity", "0")
    key = manage(env, "create_api_key", "bench", "--scope", "events:write").strip().splitlines()[-1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The bare view inserts the same rows into a table of the ledger's shape.
        conn.execute("CREATE TABLE bench_baseline (LIKE ledger_workevent INCLUDING ALL)")

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    events = make_events(args.batch_events, seed=1, prefix="batch")
    batches = [orjson.dumps(events[i : i + 1000]) for i in range(0, len(events), 1000)]
    singles = [orjson.dumps(e) for e in make_events(args.single_requests, seed=2, prefix="single")]
    warm = [orjson.dumps(e) for e in make_events(200, seed=3, prefix="warm")]

    with gunicorn(env, port=args.port, workers=2) as url:
        post_load(url, "/api/v1/events", warm, clients=2, headers=headers)
        post_load(url, "/bench/baseline-insert", warm, clients=2, headers=headers)

        cpu_before = service_cpu(database_url, args.port)
        batch = post_load(url, "/api/v1/events", batches, clients=2, headers=headers)
        batch_cpu = service_cpu(database_url, args.port) - cpu_before
        assert set(batch.statuses) == {201}, batch.statuses
        copy_seconds = copy_baseline(database_url, events)
        # The outside view: one loader posting one batch at a time (new ids), the
        # wall time of the whole load, against the same rows COPYed in one stream.
        outside_events = make_events(args.batch_events, seed=4, prefix="outside")
        outside = post_load(
            url,
            "/api/v1/events",
            [orjson.dumps(outside_events[i : i + 1000]) for i in range(0, len(events), 1000)],
            clients=1,
            headers=headers,
        )
        assert set(outside.statuses) == {201}, outside.statuses
        outside_copy_seconds = copy_baseline(database_url, outside_events)

        # Interleave the two in rounds so drift in the machine's load (other
        # processes, PostgreSQL checkpoints) hits both sides alike.
        rounds = 4 if args.single_requests else 0
        single_parts, bare_parts = [], []
        for r in range(rounds):
            share = singles[r::rounds]
            single_parts.append(
                post_load(url, "/api/v1/events", share, clients=args.clients, headers=headers)
            )
            bare_parts.append(
                post_load(
                    url, "/bench/baseline-insert", share, clients=args.clients, headers=headers
                )
            )
        if rounds:
            single, bare = merge(single_parts), merge(bare_parts)
            assert set(single.statuses) == {201}, single.statuses
            assert set(bare.statuses) == {201}, bare.statuses

    endpoint_rate = len(events) / batch.seconds
    copy_rate = len(events) / copy_seconds
    print(
        f"batch ingest   {endpoint_rate:10,.0f} events/s  ({len(events):,} events, 1,000 per request, 2 clients)"
    )
    print(f"raw COPY       {copy_rate:10,.0f} events/s  (same rows, same PostgreSQL)")
    print(f"ratio          {endpoint_rate / copy_rate:10.2f}       (goal >= 0.25)")
    per_batch = 1000 / len(events)
    print(
        f"CPU per 1,000  {batch_cpu * 1000 * per_batch:10.1f} ms      (gunicorn + its PostgreSQL"
        f" backends) against COPY {COPY_CPU[0] * 1000 * per_batch:.1f} ms (client + backend):"
        f" ratio {COPY_CPU[0] / batch_cpu:.2f}"
    )
    outside_rate = len(outside_events) / outside.seconds
    outside_copy_rate = len(outside_events) / outside_copy_seconds
    print(
        f"one loader     {outside_rate:10,.0f} events/s  (1 client, one batch at a time;"
        f" COPY {outside_copy_rate:,.0f} events/s; ratio {outside_rate / outside_copy_rate:.2f})"
    )
    if not rounds:
        return
    print()
    print(
        f"single event   {single.rate:10,.0f} req/s   p50 {single.p50 * 1000:.2f} ms"
        f"  p99 {single.percentile(99) * 1000:.2f} ms  ({args.clients} clients)"
    )
    print(
        f"bare INSERT    {bare.rate:10,.0f} req/s   p50 {bare.p50 * 1000:.2f} ms"
        f"  p99 {bare.percentile(99) * 1000:.2f} ms"
    )
    print(f"ratio          {single.rate / bare.rate:10.2f}       (goal >= 0.6)")


if __name__ == "__main__":
    main()
