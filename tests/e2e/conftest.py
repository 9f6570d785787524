"""End-to-end harness: a real web server and real Celery workers on the test database.

``stack`` starts gunicorn and a Celery worker (``--pool prefork``) as child
processes whose DATABASE_URL points at pytest-django's test database (data is
committed: the tests use ``transactional_db``), with a broker chosen by the
``broker`` parameter: the filesystem broker (always available), Redis
(AWU_TEST_REDIS_URL) or RabbitMQ (AWU_TEST_RABBITMQ_URL). A broker that cannot
be reached skips the test, except on CI (CI=true), where it fails it.
Every test gets its own queue name, so runs never steal each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.db import connection

from awu.definitions.services import definitions_install_defaults
from ledger import auth, clock

ROOT = Path(__file__).resolve().parents[2]
BROKERS = {
    "filesystem": None,
    "redis": os.environ.get("AWU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "rabbitmq": os.environ.get("AWU_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
START_TIMEOUT = 30.0


def _reachable(name: str, url: str) -> str | None:
    """None when the broker answers, else why not."""
    try:
        from kombu import Connection

        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{name} broker at {url} is not reachable ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(params=list(BROKERS))
def broker(request: pytest.FixtureRequest) -> str | None:
    """The broker URL for this run, or None for the filesystem broker."""
    name = request.param
    url = BROKERS[name]
    if url is not None:
        problem = _reachable(name, url)
        if problem:
            if os.environ.get("CI") == "true":
                pytest.fail(problem)
            pytest.skip(problem)
    return url


def _database_url() -> str:
    """The test database's URL, for the processes a test starts (which commit to it
    and are flushed after). Anything but the test database is refused: a stack or a
    drill pointed at the database named by DATABASE_URL would write into it."""
    db = connection.settings_dict
    test_name = settings.DATABASES["default"]["TEST"]["NAME"]
    if db["NAME"] != test_name:
        raise RuntimeError(
            f"refusing to start processes on {db['NAME']!r}: not the test database "
            f"{test_name!r} (is the test database set up?)"
        )
    user = quote(db.get("USER") or "postgres", safe="")
    password = db.get("PASSWORD") or ""
    auth_part = f"{user}:{quote(password, safe='')}" if password else user
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    if host.startswith("/"):
        return f"postgres://{auth_part}@/{db['NAME']}?host={host}&port={port}"
    return f"postgres://{auth_part}@{host}:{port}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """The running processes and a way to talk to them."""

    env: dict[str, str]
    logs: Path
    queue: str
    broker_url: str | None
    base_url: str = ""
    key: str = ""
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _opened: list[Any] = field(default_factory=list)
    _unready: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _started: int = 0

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        self._opened.append(log)
        # A session of its own, so a SIGKILL reaches the worker's pool children too.
        return subprocess.Popen(
            command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_web(self) -> None:
        port = _free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.web = self._spawn(
            "web",
            [
                sys.executable, "-m", "gunicorn", "awu.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
            ],
        )  # fmt: skip

    def start_worker(self) -> subprocess.Popen[bytes]:
        n = self._started
        self._started += 1
        worker = self._spawn(
            f"worker-{n}",
            [
                sys.executable, "-m", "celery", "-A", "awu", "worker",
                "--concurrency", "1", "--pool", "prefork", "-Q", self.queue,
                "--hostname", f"{self.queue}-{n}@%h", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip
        self.workers.append(worker)
        self._unready[n] = worker
        return worker

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        web_ready = self.web is None
        while time.monotonic() < deadline:
            for proc in [self.web, *self.workers]:
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"a process exited early:\n{self.tail()}")
            if not web_ready:
                with contextlib.suppress(httpx.HTTPError):
                    web_ready = httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
            for i in list(self._unready):
                if "ready." in (self.logs / f"worker-{i}.log").read_text(errors="replace"):
                    del self._unready[i]
            if web_ready and not self._unready:
                return
            time.sleep(0.1)
        raise RuntimeError(f"processes not ready in {START_TIMEOUT} s:\n{self.tail()}")

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        self.workers.remove(worker)

    def post(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base_url}/api/v1/events",
            json=events if len(events) != 1 else events[0],
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=60,
        )
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    def tail(self, lines: int = 40) -> str:
        out = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        # The test is over and its data is about to be flushed: workers have
        # nothing worth finishing, and a kill is what they must survive anyway.
        for proc, sig in [*((w, signal.SIGKILL) for w in self.workers), (self.web, signal.SIGTERM)]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, sig)
        for proc in [*self.workers, self.web]:
            if proc is None:
                continue
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for log in self._opened:
            log.close()


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _drop_queue(url: str, queue: str) -> None:
    try:
        from kombu import Connection

        with Connection(url, connect_timeout=2) as conn:
            conn.default_channel.queue_delete(queue)
    except Exception:  # noqa: S110 - cleanup of a broker that is going away anyway
        pass


def stack_environment(tmp_path: Path, *, queue: str, broker: str | None) -> dict[str, str]:
    """The environment of the stack's processes: this test database, this queue."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"AWU_NOW", "CELERY_BROKER_URL", "AWU_QUEUE", "DATABASE_URL"}
    }
    env.update(
        DATABASE_URL=_database_url(),
        AWU_ENV="test",
        AWU_DATA_DIR=str(tmp_path / "data"),
        AWU_QUEUE=queue,
        DB_CONN_MAX_AGE="0",
        # The test process's own key: webhook secrets it stores (Fernet-encrypted
        # with a key derived from it) must be readable by the stack.
        SECRET_KEY=settings.SECRET_KEY,
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="awu.settings",
    )
    if broker:
        env["CELERY_BROKER_URL"] = broker
    return env


@pytest.fixture
def stack(transactional_db: None, broker: str | None, tmp_path: Path) -> Iterator[Stack]:
    """Web + one worker on the test database, with the shipped definitions and a key."""
    definitions_install_defaults(now=clock.now())
    _, key = auth.api_key_create(name="e2e", scopes=["events:write"])
    queue = f"e2e-{uuid.uuid4().hex[:10]}"
    env = stack_environment(tmp_path, queue=queue, broker=broker)
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Stack(env=env, logs=logs, queue=queue, broker_url=broker, key=key)
    try:
        running.start_web()
        running.start_worker()
        running.wait_ready()
        yield running
    finally:
        running.stop()
        if broker:
            _drop_queue(broker, queue)
