"""Scoring benchmark: outbox drain throughput and ingest-to-credit latency.

Usage (a fresh, empty database; it is migrated here)::

    createdb awu_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/awu_bench \\
        .venv/bin/python bench/scoring.py [--events 100000] [--latency-samples 200] \\
        [--broker redis://127.0.0.1:6379/14]

1. Loads a realistic mix of work events across the five domains (stories linked
   by refs: merged PRs with deploys, reverts, rollbacks and incidents; deals;
   contracts; tickets; content with traffic) through the ingest service in
   1,000-item batches.
2. Drains the outbox with ``score_pending`` on this one process and reports
   events/s (goal: >= 3,000/s).
3. Starts gunicorn and one Celery worker, posts single ``contract.signed``
   events over HTTP and polls until each one's AwuEntry exists: the
   ingest-to-credit latency p50/p99 (goal: p50 < 1 s). Without ``--broker`` the
   zero-setup filesystem broker is used.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")
os.environ.setdefault("AWU_ENV", "development")


def _setup() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to a fresh, empty database (it is migrated and filled).")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Load and drain in this process: no broker involved until the latency part.
    settings.AWU_OUTBOX_WAKE_TASK = ""


def load(count: int, now: datetime) -> float:
    from awu.definitions.services import definitions_install_defaults
    from ledger.ingest import events_ingest
    from ledger.models import WorkEvent
    from tests.e2e.stories import mix

    if WorkEvent.objects.exists():
        sys.exit("The database already holds events: give a fresh one.")
    definitions_install_defaults(now=now - timedelta(days=365))
    events = mix(count=count, now=now, seed=1)
    started = time.perf_counter()
    for start in range(0, len(events), 1000):
        results = events_ingest(items=events[start : start + 1000], now=now)
        assert all(r.status == "created" for r in results), results[:3]
    elapsed = time.perf_counter() - started
    types: dict[str, int] = {}
    for e in events:
        types[e["type"]] = types.get(e["type"], 0) + 1
    print(f"loaded {len(events):,} events in {elapsed:.1f} s ({len(events) / elapsed:,.0f}/s)")
    print("  mix: " + ", ".join(f"{t} {n:,}" for t, n in sorted(types.items())))
    return elapsed


def vacuum() -> None:
    """Merge the GIN pending list of ledger_workevent.ref_keys, as autovacuum would.

    With ``fastupdate`` on (PostgreSQL's default), rows inserted since the last
    vacuum sit in a pending list that every ref lookup scans in full; right
    after a bulk load that makes lookups many times slower.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ledger_workevent")


def drain(now: datetime) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from awu.scoring import services
    from awu.scoring.models import AwuEntry, WorkUnit

    reset_queries()
    batches = 0
    events = 0
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        while True:
            claimed = services.score_pending(now=now)
            if not claimed:
                break
            batches += 1
            events += claimed
    elapsed = time.perf_counter() - started
    db_time = sum(float(q["time"]) for q in queries.captured_queries)
    states = {s: WorkUnit.objects.filter(state=s).count() for s in WorkUnit.State.values}
    print(
        f"score_pending drained {events:,} events in {batches} batches of up to {services.BATCH_SIZE:,}, {elapsed:.1f} s: "
        f"{events / elapsed:,.0f} events/s (goal >= 3,000/s)"
    )
    print(
        f"  {len(queries.captured_queries)} queries ({len(queries.captured_queries) / max(batches, 1):.0f}"
        f" per batch), {db_time:.1f} s in the database, {elapsed - db_time:.1f} s in Python"
        " (converting rows, CEL evaluation, the engine)"
    )
    by_statement: dict[str, float] = {}
    for q in queries.captured_queries:
        head = " ".join(q["sql"].split())[:70]
        by_statement[head] = by_statement.get(head, 0.0) + float(q["time"])
    for head, spent in sorted(by_statement.items(), key=lambda kv: -kv[1])[:4]:
        print(f"    {spent:5.1f} s  {head}")
    print(f"  units: {states}; entries: {AwuEntry.objects.count():,}")
    started = time.perf_counter()
    swept = services.sweep(now=now + timedelta(days=40))
    print(
        f"sweep 40 days later re-evaluated {swept:,} units in {time.perf_counter() - started:.1f} s"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latency(samples: int, broker: str | None) -> None:
    import httpx

    from awu.scoring.models import AwuEntry, WorkUnit
    from ledger import auth
    from ledger.models import WorkEvent

    _, key = auth.api_key_create(name="bench", scopes=["events:write"])
    data_dir = Path(tempfile.mkdtemp(prefix="awu-bench-"))
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in {"AWU_NOW", "CELERY_BROKER_URL"}}
    env.update(AWU_DATA_DIR=str(data_dir), AWU_QUEUE=queue, PYTHONPATH=str(ROOT))
    if broker:
        env["CELERY_BROKER_URL"] = broker
    port = _free_port()
    logs = (data_dir / "processes.log").open("wb")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "awu.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", "2"],
            env=env, cwd=ROOT, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "awu", "worker", "--concurrency", "1",
             "--pool", "prefork", "-Q", queue, "--without-gossip", "--without-mingle",
             "--loglevel", "INFO"],
            env=env, cwd=ROOT, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
        ),
    ]  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while b"ready." not in (data_dir / "processes.log").read_bytes():
            if time.monotonic() > deadline:
                sys.exit("worker did not start:\n" + (data_dir / "processes.log").read_text())
            time.sleep(0.1)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
        for _ in range(100):
            try:
                client.get("/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        seconds = []
        for n in range(samples):
            # Signed 31 days ago: the 30-day cancellation window has closed, so the
            # unit is credited as it is scored (what a backfill does).
            at = datetime.now(UTC) - timedelta(days=31)
            body = {
                "source": "bench-docusign",
                "id": f"latency-{uuid.uuid4().hex}",
                "type": "contract.signed",
                "occurred_at": at.isoformat().replace("+00:00", "Z"),
                "actor": "lee@example.com",
                "refs": {"envelope": [f"env-latency-{n}"]},
            }
            started = time.perf_counter()
            response = client.post("/api/v1/events", json=body)
            assert response.status_code == 201, response.text
            event_id = response.json()["results"][0]["id"]
            while not AwuEntry.objects.filter(
                unit__in=WorkUnit.objects.filter(trigger_event_id=event_id)
            ).exists():
                if time.perf_counter() - started > 30:
                    sys.exit(f"event {event_id} not credited in 30 s")
                time.sleep(0.005)
            seconds.append(time.perf_counter() - started)
            time.sleep(0.05)  # one at a time, like a trickle of real signatures
        seconds.sort()
        p50 = statistics.median(seconds)
        p99 = seconds[min(len(seconds) - 1, round(0.99 * len(seconds)) - 1)]
        print(
            f"ingest-to-credit latency over {samples} single posts via "
            f"{'the broker ' + broker if broker else 'the filesystem broker'}: "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
            " (goal p50 < 1 s)"
        )
        print(
            f"  stored events: {WorkEvent.objects.count():,}; the wake-up travels web -> broker -> "
            "worker; the worker's broker poll interval bounds the floor"
        )
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        logs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--broker", default=None, help="A Redis or RabbitMQ URL for the latency run."
    )
    parser.add_argument(
        "--no-vacuum", dest="vacuum", action="store_false",
        help="Score straight after the load, before the GIN pending list is merged.",
    )  # fmt: skip
    args = parser.parse_args()
    _setup()
    now = datetime.now(UTC)
    load(args.events, now)
    if args.vacuum:
        vacuum()
    else:
        print("  (no vacuum: ref lookups scan the GIN pending list of the bulk load)")
    drain(now)
    if args.latency_samples:
        latency(args.latency_samples, args.broker)


if __name__ == "__main__":
    main()
