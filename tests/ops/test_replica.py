"""Reads from a real streaming standby: a throwaway primary and its hot standby.

The test starts both on loopback (``initdb``, then ``pg_basebackup -R``, with the
Debian PostgreSQL binaries), migrates the primary, and runs gunicorn with
``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URL`` on the standby.
Records are posted to the primary; the listing and a report, read from the
standby, show them once replication has brought them over; the standby's log
shows the reads and no write attempt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("AWU_PG_BIN", "/usr/lib/postgresql/15/bin"))
TOOLS = ("initdb", "pg_ctl", "pg_basebackup")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# PostgreSQL refuses to run as root: there, the servers run as the system's
# ``postgres`` user, in a directory it owns.
_AS = {"user": "postgres"} if os.geteuid() == 0 else {}


def _run(*command: str, env: dict[str, str] | None = None, server: bool = False) -> str:
    done = subprocess.run(
        command,
        env=env,
        cwd="/" if server else ROOT,
        capture_output=True,
        text=True,
        check=False,
        **(_AS if server else {}),  # type: ignore[arg-type]
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _poll(check: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Pair:
    primary: str
    standby: str
    standby_log: Path


def _start(data: Path, port: int, log: Path) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{data}'\nfsync = off\n"
            "log_statement = 'all'\n"
        )
    _run(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start", server=True)


@pytest.fixture
def pair() -> Iterator[Pair]:
    missing = [tool for tool in TOOLS if not (BIN / tool).exists()]
    if missing:
        reason = f"PostgreSQL server binaries not found in {BIN} ({', '.join(missing)})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="awu-replica-"))
    if _AS:
        shutil.chown(base, user="postgres")
    primary, standby = base / "primary", base / "standby"
    primary_port, standby_port = _free_port(), _free_port()
    started: list[Path] = []
    try:
        _run(
            str(BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            server=True,
        )  # fmt: skip
        _start(primary, primary_port, base / "primary.log")
        started.append(primary)
        _run(
            str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
            "-D", str(standby), "-R", "-X", "stream", server=True,
        )  # fmt: skip
        (standby / "postmaster.pid").unlink(missing_ok=True)
        _start(standby, standby_port, base / "standby.log")
        started.append(standby)
        url = "postgres://postgres@127.0.0.1:{}/awu"
        yield Pair(url.format(primary_port), url.format(standby_port), base / "standby.log")
    finally:
        for data in reversed(started):
            subprocess.run(
                [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
                **_AS,  # type: ignore[arg-type]
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def served(pair: Pair, tmp_path: Path) -> Iterator[tuple[Pair, str, dict[str, str]]]:
    """Migrated primary, gunicorn on both databases, a key with every scope used."""
    import psycopg

    with psycopg.connect(pair.primary.replace("/awu", "/postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE awu")
    env = {k: v for k, v in os.environ.items() if k not in {"AWU_NOW", "TEST_DATABASE_NAME"}}
    env.update(
        DATABASE_URL=pair.primary,
        DATABASE_REPLICA_URL=pair.standby,
        AWU_ENV="test",
        AWU_DATA_DIR=str(tmp_path / "data"),
        DB_CONN_MAX_AGE="0",
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="awu.settings",
    )
    manage = [sys.executable, "manage.py"]
    _run(*manage, "migrate", "-v0", env=env)
    key = _run(
        *manage, "create_api_key", "replica-test",
        "--scope", "events:write", "--scope", "usage:write", "--scope", "reports:read",
        env=env,
    ).strip().splitlines()[-1]  # fmt: skip
    port = _free_port()
    with (tmp_path / "web.log").open("ab") as log:
        web = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "awu.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2",
            ],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            return False

        _poll(healthy, what="gunicorn", timeout=60)
        yield pair, base, {"Authorization": f"Bearer {key}"}
    finally:
        web.terminate()
        web.wait(timeout=30)


def test_records_posted_to_the_primary_are_read_back_from_the_standby(
    served: tuple[Pair, str, dict[str, str]],
) -> None:
    pair, base, headers = served
    event = {
        "source": "deploy-bot", "id": "replica-1", "type": "deploy.succeeded",
        "occurred_at": "2026-11-01T12:00:00Z", "actor": "alice@example.com", "team": "payments",
    }  # fmt: skip
    usage = {
        "source": "llm-gateway", "id": "req-replica-1", "occurred_at": "2026-11-01T12:00:03Z",
        "actor": "alice@example.com", "team": "payments", "provider": "anthropic",
        "model": "claude-opus-4-5", "input_tokens": 1000, "output_tokens": 100, "cost_usd": "1.25",
    }  # fmt: skip
    assert httpx.post(f"{base}/api/v1/events", json=event, headers=headers).status_code in (
        200,
        201,
    )
    assert httpx.post(f"{base}/api/v1/token-usage", json=usage, headers=headers).status_code in (
        200,
        201,
    )

    def listed() -> bool:
        body = httpx.get(f"{base}/api/v1/events", headers=headers).json()
        return any(row["id"] == "replica-1" for row in body["results"])

    _poll(listed, what="the event in the listing read from the standby")

    # Beat's job, on the primary: the rollups reach the standby by replication.
    env = {**os.environ, "DATABASE_URL": pair.primary, "AWU_ENV": "test"}
    env.pop("TEST_DATABASE_NAME", None)
    _run(sys.executable, "manage.py", "refresh_rollups", env=env)

    def reported() -> Any:
        response = httpx.get(
            f"{base}/api/v1/reports/efficiency",
            params={"group_by": "team", "from": "2026-11-01", "to": "2026-11-30"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return "1.25" in response.text

    _poll(reported, what="the usage in a report read from the standby")

    log = pair.standby_log.read_text(errors="replace")
    assert "ledger_workevent" in log  # the listing was read there
    assert "read-only transaction" not in log
    assert "cannot execute" not in log
