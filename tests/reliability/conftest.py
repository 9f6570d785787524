"""Fault-test harness: the end-to-end stack plus what faults need.

Reuses tests/e2e/conftest.py (``stack``, ``broker``, ``Stack``): a real gunicorn,
real Celery workers and the test database. Adds a beat process, restarts with a
new environment (a later AWU_NOW is time passing), a private redis-server that
a test may stop and start, a client that retries on 503, and a way to drop the
stack's database connections.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection

from tests.e2e.conftest import (  # noqa: F401 - fixtures are used by name
    Stack,
    _database_url,
    _free_port,
    broker,
    stack,
    wait_for,
)


def _on_ci() -> bool:
    return os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> None:
    """A missing service skips locally and fails on CI."""
    if _on_ci():
        pytest.fail(reason)
    pytest.skip(reason)


# --- Beat and restarts --------------------------------------------------------------


def start_beat(running: Stack, *, sweep_seconds: float = 1.0) -> subprocess.Popen[bytes]:
    """A celery beat sending the sweep every ``sweep_seconds`` to the stack's queue.

    It is added to ``running.workers`` so that the stack's teardown kills it.
    """
    running.env["AWU_SWEEP_SECONDS"] = str(sweep_seconds)
    n = running._started
    running._started += 1
    beat = running._spawn(
        f"beat-{n}",
        [
            sys.executable, "-m", "celery", "-A", "awu", "beat", "--loglevel", "INFO",
            "--schedule", str(running.logs / f"beat-{n}-schedule"),
        ],
    )  # fmt: skip
    running.workers.append(beat)
    wait_for(
        lambda: "beat: Starting" in (running.logs / f"beat-{n}.log").read_text(errors="replace"),
        timeout=30,
        what="celery beat to start",
    )
    return beat


def restart_workers(running: Stack, **env: str) -> None:
    """Kill every worker (and beat), update the environment, start one worker."""
    for proc in list(running.workers):
        running.kill_worker(proc)
    running.env.update(env)
    running.start_worker()
    running.wait_ready()


# --- A private redis-server ---------------------------------------------------------


@dataclass
class PrivateRedis:
    """A redis-server child process on a loopback port of its own, with no persistence."""

    port: int
    logs: Path
    process: subprocess.Popen[bytes] | None = None
    _opened: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.logs / "redis.log").open("ab")
        self._opened.append(log)
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.kill()
        for log in self._opened:
            log.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    logs = tmp_path / "redis"
    logs.mkdir()
    server = PrivateRedis(port=_free_port(), logs=logs)
    try:
        server.start()
        yield server
    finally:
        server.close()


# --- Clients ------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    retry_after: str | None


def post_events(running: Stack, events: list[dict[str, Any]], *, timeout: float = 60) -> Answer:
    """One POST of a batch; any status is returned, never raised."""
    response = httpx.post(
        f"{running.base_url}/api/v1/events",
        json=events,
        headers={"Authorization": f"Bearer {running.key}"},
        timeout=timeout,
    )
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body, response.headers.get("Retry-After"))


@dataclass
class RetryingClient:
    """Posts a batch until it gets a 2xx, retrying on 503 (as the API asks).

    Records every answer so a test can check that no 500 (or anything other than
    2xx or a 503 with Retry-After) was ever seen. Waits a short fixed time
    between tries instead of the advertised Retry-After, to keep tests fast.
    """

    running: Stack
    pause: float = 0.05
    max_tries: int = 100
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for _ in range(self.max_tries):
            try:
                answer = post_events(self.running, events)
            except httpx.TransportError as exc:  # never expected: recorded as a failure
                answer = Answer(0, repr(exc), None)
            with self.lock:
                self.answers.append(answer)
            if answer.status in (200, 201):
                results: list[dict[str, Any]] = answer.body["results"]
                return results
            if answer.status != 503:
                raise AssertionError(f"unexpected answer {answer.status}: {answer.body}")
            time.sleep(self.pause)
        raise AssertionError(f"no success after {self.max_tries} tries")

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.answers:
            out[a.status] = out.get(a.status, 0) + 1
        return out


# --- Dropping database connections --------------------------------------------------


class ConnectionKiller:
    """A thread that terminates the stack's backends on the test database.

    Every backend connected to the test database except this test's own (which
    the checks use) and those of :meth:`spared_connection` is terminated with pg_terminate_backend, every ``interval``
    seconds, while running.
    """

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self.terminated = 0
        self.rounds = 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._spared = {int(cursor.fetchone()[0])}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-killer", daemon=True)

    def _run(self) -> None:
        with psycopg.connect(_database_url(), autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND pid <> ALL(%s) AND backend_type = 'client backend'
                    """,
                    [list(self._spared)],
                ).fetchall()
                self.terminated += sum(1 for (ok,) in rows if ok)
                self.rounds += 1
                self._stop.wait(self.interval)

    def spared_connection(self) -> psycopg.Connection[Any]:
        """A connection to the test database that the killer leaves alone."""
        conn = psycopg.connect(_database_url(), autocommit=True)
        self._spared = self._spared | {conn.info.backend_pid}
        return conn

    def __enter__(self) -> ConnectionKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
