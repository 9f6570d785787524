"""Soak: a fixed-rate, bounded-duration mix of real traffic against a real stack.

Usage (run by hand on a quiet machine; results go in BENCHMARKS.md)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/soak.py --rate 50 --duration 30 [--clients 16] \\
        [--web-workers 2] [--broker redis://127.0.0.1:6379/14] [--json soak.json]

It creates a fresh database (``--database``, default ``awu_bench_soak``, on the server of DATABASE_URL),
migrates it, installs the price book and the default definitions, maps 40
people into 4 teams, and starts the stack: gunicorn (gthread), one Celery
worker and Celery beat, on the filesystem broker unless ``--broker`` or
$CELERY_BROKER_URL names one. Then it offers ``--rate`` requests/s for
``--duration`` seconds over loopback:

* 80% event ingest: three in four are single events, one in four a batch of
  ``--batch`` events (realistic linked stories, tests/e2e/stories.py);
* 10% token usage (single records, priced from the price book);
* 10% report queries (efficiency by team and by person, trend, spend deciles,
  work units).

``--mix event=0,event-batch=1,usage=0,report=0`` offers other shares (the
sizing runs of docs/operations.md offer one kind at a time).

The load is open-loop: request *i* is due at ``start + i / rate`` whatever
happened to the ones before, and its latency is measured from that due time,
so a slow server shows as latency (requests queue behind busy clients), never
as a lower offered rate. Reported: offered and held rate, responses by status,
p50/p99/max latency per kind, the scoring backlog at the end and the time it
takes to drain, and the resident memory (VmRSS) of every web and worker
process, children included, at the start, the middle and the end of the load
and once the backlog is drained; and the CPU seconds each role used during the
load (web, worker, beat, the client threads, and the database server's backends
for the soak's database: the server must run on this machine), sampled every
second.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

DATABASE = "awu_bench_soak"  # the default of --database
PEOPLE = [f"dev{i}@example.com" for i in range(40)]  # the actors of tests/e2e/stories.mix
TEAMS = ["payments", "search", "platform", "mobile"]
KINDS = ("event", "event-batch", "usage", "report")


# --- the stack ---------------------------------------------------------------------


def _prepare(database_url: str, data_dir: Path, now: datetime) -> str:
    """Migrate, install prices and definitions, map the people; return an API key."""
    os.environ.update(harness.environment(database_url))
    os.environ["AWU_DATA_DIR"] = str(data_dir)
    os.environ.pop("AWU_NOW", None)
    import django

    django.setup()
    from django.core.management import call_command

    from awu.definitions.services import definitions_install_defaults
    from ledger import auth
    from ledger.models import Identity, Membership, Person, Team
    from ledger.pricing.book import install_published_prices

    call_command("migrate", verbosity=0)
    install_published_prices()
    definitions_install_defaults(now=now - timedelta(days=365))
    teams = [Team.objects.create(slug=s, name=s.title(), domain="engineering") for s in TEAMS]
    for n, actor in enumerate(PEOPLE):
        person = Person.objects.create(name=f"Dev {n}", email=actor)
        Identity.objects.create(value=actor, person=person)
        Membership.objects.create(
            person=person, team=teams[n % len(teams)], valid_from=now - timedelta(days=800)
        )
    _, key = auth.api_key_create(
        name="soak", scopes=["events:write", "usage:write", "reports:read"]
    )
    return key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _celery(env: dict[str, str], log: Any, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "awu", *args, "--loglevel", "INFO"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


# --- memory ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _roles(worker: int, beat: int) -> dict[int, str]:
    """pid -> role of every web and worker process (the server's children included)."""
    roles: dict[int, str] = {}
    for pid in _children(os.getpid()):
        if "gunicorn" in _cmdline(pid):
            roles[pid] = "web master"
            roles.update(dict.fromkeys(_children(pid), "web worker"))
    roles[worker] = "celery worker"
    roles.update(dict.fromkeys(_children(worker), "celery worker child"))
    roles[beat] = "celery beat"
    return roles


# --- cpu ---------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (every process, ours or not)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


def _database_backends(database: str) -> list[int]:
    """Server processes serving the soak's database (the server must be local)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        return [int(row[0]) for row in cursor.fetchall()]


def _cpu_by_role(worker: int, beat: int, database: str) -> dict[int, tuple[str, float]]:
    """pid -> (role, CPU seconds so far) for web, worker, beat, clients and the
    database backends of the soak's database."""
    found = {pid: (role, _cpu_seconds(pid)) for pid, role in _roles(worker, beat).items()}
    found[os.getpid()] = ("clients", _cpu_seconds(os.getpid()))
    for pid in _database_backends(database):
        found[pid] = ("database", _cpu_seconds(pid))
    return found


class CpuSampler:
    """CPU seconds per role over the load, and the whole machine's (a shared machine
    shows here how much of it other work took), sampled every second: database backends
    come and go (DB_CONN_MAX_AGE), so each process keeps the last value seen
    (an exiting one loses at most its last second)."""

    def __init__(self, worker: int, beat: int, database: str) -> None:
        self.args = (worker, beat, database)
        self.first = _cpu_by_role(*self.args)
        self.machine_first = _machine_busy_seconds()
        self.last = dict(self.first)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        for pid, (role, seconds) in _cpu_by_role(*self.args).items():
            self.last[pid] = (role, max(seconds, self.last.get(pid, (role, 0.0))[1]))

    def _run(self) -> None:
        import django.db

        while not self.stopped.wait(1.0):
            self._sample()
        django.db.connection.close()

    def stop(self) -> dict[str, float]:
        """CPU seconds per role since the start (a process that appeared since
        counts from zero)."""
        self.stopped.set()
        self.thread.join()
        used: dict[str, float] = {"machine (all processes)": 0.0}
        for pid, (role, seconds) in self.last.items():
            start = self.first.get(pid, (role, 0.0))[1]
            bucket = {"celery": "worker", "web": "web"}.get(role.split()[0], role)
            bucket = "beat" if role == "celery beat" else bucket
            used[bucket] = round(used.get(bucket, 0.0) + max(0.0, seconds - start), 1)
        used["machine (all processes)"] = round(_machine_busy_seconds() - self.machine_first, 1)
        return dict(sorted(used.items()))


# --- load --------------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    method: str
    path: str
    body: bytes | None = None


@dataclass
class Sample:
    kind: str
    due: float
    started: float
    finished: float
    status: str


def _events(now: datetime) -> Iterator[dict[str, Any]]:
    from tests.e2e.stories import mix

    for seed in itertools.count(1000):
        # Fresh ids per seed; events of one story stay close together, so a
        # story's later events usually arrive after its trigger, as in life.
        yield from mix(count=2000, now=now, seed=seed)


MIX = {"event": 0.6, "event-batch": 0.2, "usage": 0.1, "report": 0.1}


def parse_mix(text: str) -> dict[str, float]:
    """``event=0.6,event-batch=0.2,usage=0.1,report=0.1`` -> shares summing to 1."""
    shares = dict.fromkeys(KINDS, 0.0)
    for part in text.split(","):
        kind, _, share = part.partition("=")
        if kind.strip() not in shares:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        shares[kind.strip()] = float(share)
    total = sum(shares.values())
    if total <= 0:
        raise ValueError("the shares must add up to more than 0")
    return {kind: share / total for kind, share in shares.items()}


def _requests(
    rnd: random.Random, now: datetime, batch: int, mix: dict[str, float] = MIX
) -> Iterator[Request]:
    events = _events(now)
    today = now.date()
    reports = [
        "/api/v1/reports/efficiency?"
        + urlencode(
            {"from": str(today - timedelta(days=30)), "to": str(today), "group_by": "team"}
        ),
        "/api/v1/reports/efficiency?"
        + urlencode(
            {"from": str(today - timedelta(days=90)), "to": str(today), "group_by": "person"}
        ),
        "/api/v1/reports/trend?"
        + urlencode({"from": str(today - timedelta(days=120)), "to": str(today)}),
        "/api/v1/reports/spend-deciles?"
        + urlencode({"from": str(today - timedelta(days=30)), "to": str(today)}),
        "/api/v1/work-units?state=completed",
    ]
    for n in itertools.count():
        roll = rnd.random()
        if roll < mix["event"]:
            yield Request("event", "POST", "/api/v1/events", orjson.dumps(next(events)))
        elif roll < mix["event"] + mix["event-batch"]:
            items = [next(events) for _ in range(batch)]
            yield Request("event-batch", "POST", "/api/v1/events", orjson.dumps(items))
        elif roll < mix["event"] + mix["event-batch"] + mix["usage"]:
            record = {
                "source": "llm-gateway",
                "id": f"soak-{uuid.uuid4().hex}",
                "occurred_at": (now - timedelta(minutes=rnd.uniform(1, 60 * 24 * 30)))
                .isoformat()
                .replace("+00:00", "Z"),
                "actor": rnd.choice(PEOPLE),
                "provider": "anthropic",
                "model": rnd.choice(["claude-sonnet-4-5", "claude-opus-4-5", "claude-haiku-4-5"]),
                "input_tokens": rnd.randint(500, 40_000),
                "output_tokens": rnd.randint(100, 4_000),
                "cache_read_input_tokens": rnd.randint(0, 80_000),
                "refs": {"session": [f"cc-{rnd.randint(1, 5000)}"]},
            }
            yield Request("usage", "POST", "/api/v1/token-usage", orjson.dumps(record))
        else:
            yield Request("report", "GET", reports[n % len(reports)])


@dataclass
class Load:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(port: int, key: str, work: queue.Queue[Any], load: Load) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while (item := work.get()) is not None:
        due, request = item
        started = time.monotonic()
        try:
            connection.request(request.method, request.path, body=request.body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        sample = Sample(request.kind, due, started, time.monotonic(), status)
        with load.lock:
            load.samples.append(sample)
    connection.close()


def _producer(requests: Iterator[Request], ready: queue.Queue[Request], total: int) -> None:
    # Bodies are built ahead of time, so building them never delays a due request.
    for request in itertools.islice(requests, total):
        ready.put(request)


def run_load(
    *, port: int, key: str, rate: float, duration: float, clients: int, batch: int, seed: int,
    on_middle: Any, mix: dict[str, float] = MIX,
) -> tuple[Load, float, float]:  # fmt: skip
    """Offer ``rate`` requests/s for ``duration`` s; returns the samples, the start
    and the time the last request was due."""
    total = int(rate * duration)
    rnd = random.Random(seed)
    ready: queue.Queue[Request] = queue.Queue(maxsize=max(100, int(rate * 5)))
    threading.Thread(
        target=_producer,
        args=(_requests(rnd, datetime.now(UTC), batch, mix), ready, total),
        daemon=True,
    ).start()
    while ready.qsize() < min(total, ready.maxsize // 2):
        time.sleep(0.05)
    work: queue.Queue[Any] = queue.Queue()
    load = Load()
    threads = [
        threading.Thread(target=_client, args=(port, key, work, load), daemon=True)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    start = time.monotonic() + 0.2
    middle_done = False
    for i in range(total):
        due = start + i / rate
        if not middle_done and i >= total // 2:
            on_middle()
            middle_done = True
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        work.put((due, ready.get()))
    last_due = start + (total - 1) / rate
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join(timeout=max(120.0, duration))
    return load, start, last_due


# --- results -----------------------------------------------------------------------


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summarize(
    load: Load, start: float, last_due: float, rate: float, duration: float
) -> dict[str, Any]:
    samples = load.samples
    offered = int(rate * duration)
    finished = max((s.finished for s in samples), default=start)
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        mine = [s for s in samples if s.kind == kind]
        if not mine:
            continue
        latencies = [s.finished - s.due for s in mine]
        errors = [s for s in mine if not s.status.startswith("2")]
        kinds[kind] = {
            "requests": len(mine),
            "errors": len(errors),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
        }
    return {
        "offered_requests": offered,
        "offered_rate": round(offered / duration, 1),
        "completed_requests": len(samples),
        "held_rate": round(len(samples) / max(finished - start, 1e-9), 1),
        "schedule_seconds": round(last_due - start, 2),
        "last_response_after_seconds": round(finished - start, 2),
        "max_client_lag_ms": round(max((s.started - s.due for s in samples), default=0) * 1000, 1),
        "statuses": dict(sorted(statuses.items())),
        "errors": sum(n for status, n in statuses.items() if not status.startswith("2")),
        "kinds": kinds,
    }


def _backlog() -> int:
    from ledger.models import EventOutbox

    return EventOutbox.pending()


def _drain(timeout: float) -> float | None:
    started = time.monotonic()
    while _backlog():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.25)
    return round(time.monotonic() - started, 2)


def _print(result: dict[str, Any]) -> None:
    load = result["load"]
    print(
        f"offered {load['offered_requests']:,} requests at {load['offered_rate']}/s over "
        f"{result['duration']} s; completed {load['completed_requests']:,}, "
        f"held {load['held_rate']}/s (last response {load['last_response_after_seconds']} s "
        f"after the start); longest wait for a free client {load['max_client_lag_ms']} ms"
    )
    print(f"responses by status: {load['statuses']}; errors: {load['errors']}")
    print(f"{'kind':<12} {'requests':>9} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for kind, row in load["kinds"].items():
        print(
            f"{kind:<12} {row['requests']:>9,} {row['errors']:>7,} {row['p50_ms']:>9} "
            f"{row['p99_ms']:>9} {row['max_ms']:>9}"
        )
    drained = result["drain_seconds"]
    print(
        f"events stored {result['events_stored']:,}; scoring backlog at the end of the load: "
        f"{result['backlog_at_end']:,} events; drained in "
        + (f"{drained} s" if drained is not None else f"more than {result['drain_timeout']} s")
    )
    phases = list(result["rss_kib"])
    print(f"{'process':<22} {'pid':>7} " + " ".join(f"{p + ' MiB':>14}" for p in phases))
    pids = sorted({pid for phase in result["rss_kib"].values() for pid in phase})
    for pid in pids:
        role = next(phase[pid]["role"] for phase in result["rss_kib"].values() if pid in phase)
        cells = []
        for phase in phases:
            kib = result["rss_kib"][phase].get(pid, {}).get("kib")
            cells.append(f"{kib / 1024:>14.1f}" if kib else f"{'-':>14}")
        print(f"{role:<22} {pid:>7} " + " ".join(cells))
    for phase in phases:
        total = sum(v["kib"] or 0 for v in result["rss_kib"][phase].values())
        print(f"  total at {phase}: {total / 1024:.1f} MiB")
    load_seconds = result["load"]["last_response_after_seconds"]
    print(
        f"CPU seconds during the load ({load_seconds} s): "
        + ", ".join(
            f"{role} {seconds} ({seconds / load_seconds:.2f} cores)"
            for role, seconds in result["cpu_seconds_during_load"].items()
        )
    )
    print(f"worker and beat logs: {result['logs']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="Requests per second offered.")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load.")
    parser.add_argument("--clients", type=int, default=16, help="Client threads.")
    parser.add_argument("--batch", type=int, default=50, help="Events per batch request.")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="Celery worker processes.")
    parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL") or None)
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mix",
        default=",".join(f"{k}={v}" for k, v in MIX.items()),
        help="Shares of each kind of request (event, event-batch, usage, report).",
    )
    parser.add_argument(
        "--database", default=DATABASE, help="The database to (re)create for the run."
    )
    parser.add_argument("--json", help="Also write the results as JSON to this file ('-': stdout).")
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0 or args.clients <= 0:
        sys.exit("--rate, --duration and --clients must be positive")
    try:
        mix = parse_mix(args.mix)
    except ValueError as exc:
        sys.exit(f"--mix: {exc}")

    # A TERM (timeout, kill) unwinds like Ctrl-C, so the stack is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak stopped by SIGTERM"))
    now = datetime.now(UTC)
    data_dir = Path(tempfile.mkdtemp(prefix="awu-soak-"))
    database_url = harness.bench_database_url(args.database)
    key = _prepare(database_url, data_dir, now)
    env = harness.environment(database_url, AWU_QUEUE=f"soak-{uuid.uuid4().hex[:8]}")
    env["AWU_DATA_DIR"] = str(data_dir)
    env.pop("AWU_NOW", None)
    env.pop("CELERY_BROKER_URL", None)
    if args.broker:
        env["CELERY_BROKER_URL"] = args.broker
    log_path = data_dir / "processes.log"
    port = _free_port()
    with log_path.open("wb") as log:
        worker = _celery(
            env, log, "worker", "--concurrency", str(args.concurrency), "--pool", "prefork",
            "-Q", env["AWU_QUEUE"], "--without-gossip", "--without-mingle",
        )  # fmt: skip
        beat = _celery(env, log, "beat", "--schedule", str(data_dir / "beat-schedule"))
        try:
            with harness.gunicorn(env, port=port, workers=args.web_workers):
                deadline = time.monotonic() + 60
                while b"ready." not in log_path.read_bytes():
                    if time.monotonic() > deadline:
                        sys.exit("the worker did not start:\n" + log_path.read_text())
                    time.sleep(0.1)
                rss: dict[str, dict[int, dict[str, Any]]] = {}

                def sample(phase: str) -> None:
                    rss[phase] = {
                        pid: {"role": role, "kib": _rss_kib(pid)}
                        for pid, role in _roles(worker.pid, beat.pid).items()
                    }

                sample("start")
                cpu = CpuSampler(worker.pid, beat.pid, args.database)
                load, start, last_due = run_load(
                    port=port, key=key, rate=args.rate, duration=args.duration,
                    clients=args.clients, batch=args.batch, seed=args.seed,
                    on_middle=lambda: sample("middle"), mix=mix,
                )  # fmt: skip
                sample("end")
                cpu_seconds = cpu.stop()
                backlog = _backlog()
                drained = _drain(args.drain_timeout)
                sample("drained")
                from ledger.models import WorkEvent

                result = {
                    "rate": args.rate,
                    "duration": args.duration,
                    "clients": args.clients,
                    "web_workers": args.web_workers,
                    "worker_concurrency": args.concurrency,
                    "broker": args.broker or "filesystem",
                    "mix": mix,
                    "load": summarize(load, start, last_due, args.rate, args.duration),
                    "events_stored": WorkEvent.objects.count(),
                    "backlog_at_end": backlog,
                    "drain_seconds": drained,
                    "drain_timeout": args.drain_timeout,
                    "rss_kib": rss,
                    "cpu_seconds_during_load": cpu_seconds,
                    "logs": str(log_path),
                }
        finally:
            _stop(beat)
            _stop(worker)
    _print(result)
    if args.json:
        text = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
