"""``manage.py up`` (what ``./run up`` runs): the whole service in one command."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fresh_database_url() -> Iterator[str | None]:
    """A new, empty database on the DATABASE_URL server (None: use the embedded one)."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        yield None
        return
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    name = f"awu_up_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def test_up_starts_web_worker_and_beat_and_ctrl_c_stops_them(
    tmp_path: Path, fresh_database_url: str | None
) -> None:
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    # AWU_DEMO=0: this test is about the services; seed_demo has its own tests.
    env.update(
        AWU_ENV="development",
        AWU_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
        AWU_DEMO="0",
    )
    if fresh_database_url:
        env["DATABASE_URL"] = fresh_database_url
    process = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith("Ready in"):
                break
            assert time.monotonic() < deadline, "".join(output)
        banner = "".join(output)
        key = re.search(r"admin API key\s+(awu_\S+)", banner)
        assert key, banner
        assert f"http://127.0.0.1:{port}/admin/" in banner
        urls = [line for line in banner.splitlines() if "http://" in line]
        assert urls[0].split() == ["Dashboard", f"http://127.0.0.1:{port}/"], banner
        assert re.search(r"dashboard user\s+demo / \S+", banner), banner
        assert "Seeding the demo" not in banner

        for _ in range(100):
            try:
                status, body = _request(port, "GET", "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert status == 200, body

        status, body = _request(
            port,
            "POST",
            "/api/v1/events",
            orjson.dumps(
                {
                    "source": "tour",
                    "id": "envelope-1-completed",
                    "type": "contract.signed",
                    "occurred_at": "2026-11-01T12:00:00Z",
                    "refs": {"envelope": ["env-1"]},
                }
            ),
            {"Authorization": f"Bearer {key.group(1)}", "Content-Type": "application/json"},
        )
        assert status == 201, body
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        output.append(rest or "")
    assert process.returncode == 0, "".join(output)[-3000:]
    assert "Stopped." in "".join(output)
