"""Shared benchmark plumbing: a fresh database, a gunicorn server, a load client.

Benchmarks compare against a baseline measured in the same run on the same
machine (raw COPY into the same PostgreSQL, a bare Django view on the same
gunicorn), so the ratios mean something even where absolute numbers do not.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]


def bench_database_url(name: str) -> str:
    """DATABASE_URL with its database replaced by a fresh ``name`` (dropped and made)."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    admin = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        AWU_ENV="development",
        AWU_DATA_DIR=str(ROOT / "var" / "bench"),
        DJANGO_SETTINGS_MODULE="awu.settings",
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@contextmanager
def gunicorn(env: dict[str, str], *, port: int, workers: int = 2) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "awu.wsgi:application", "--bind", f"127.0.0.1:{port}",
            # gthread: the sync worker closes every connection; this one keeps them alive.
            "--workers", str(workers), "--worker-class", "gthread", "--threads", "4",
            "--log-level", "warning", "--keep-alive", "30",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)


def _client(args: tuple[str, str, dict[str, str], list[bytes], multiprocessing.Queue]) -> None:  # type: ignore[type-arg]
    url, path, headers, bodies, out = args
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    latencies, statuses = [], {}
    for body in bodies:
        started = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()
    out.put((latencies, statuses))


def post_load(
    url: str, path: str, bodies: list[bytes], *, clients: int, headers: dict[str, str]
) -> LoadResult:
    """POST every body once, spread over ``clients`` keep-alive connections in
    separate processes (so the client's own GIL is not the bottleneck)."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    shares = [bodies[i::clients] for i in range(clients)]
    processes = [
        multiprocessing.Process(target=_client, args=((url, path, headers, share, queue),))
        for share in shares
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    latencies = [lat for lats, _ in results for lat in lats]
    statuses: dict[int, int] = {}
    for _, counts in results:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    return LoadResult(len(bodies), elapsed, latencies, statuses)


def merge(parts: list[LoadResult]) -> LoadResult:
    """Several runs of the same load as one result (rates over the summed time)."""
    statuses: dict[int, int] = {}
    for part in parts:
        for status, n in part.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return LoadResult(
        requests=sum(p.requests for p in parts),
        seconds=sum(p.seconds for p in parts),
        latencies=[lat for p in parts for lat in p.latencies],
        statuses=statuses,
    )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
