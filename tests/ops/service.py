"""The service on a database of the drill's choosing, and the tools it needs."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.e2e.conftest import Stack
from tests.ops import pgtools
from tests.reliability.conftest import skip_or_fail, start_beat


def stack_on(url: str, env: dict[str, str], logs: Path, *, worker: bool) -> Stack:
    """Web on the database of ``url``; with ``worker``, a real worker and beat too
    (the processes of docs/operations.md), beat sweeping every second: work left
    in the outbox is found by the sweep, since no wake-up for it will come."""
    queue = f"drill-{uuid.uuid4().hex[:10]}"
    logs.mkdir(parents=True, exist_ok=True)
    running = Stack(
        env={**env, "DATABASE_URL": url, "AWU_QUEUE": queue}, logs=logs, queue=queue,
        broker_url=None,
    )  # fmt: skip
    running.start_web()
    if worker:
        running.start_worker()
    try:
        running.wait_ready()
        if worker:
            start_beat(running)
    except Exception:
        running.stop()
        raise
    return running


def pg_tool(url: str, name: str) -> Path:
    folder = pgtools.binaries_for(pgtools.server_major(url))
    if folder is None:
        skip_or_fail(f"no {name} for PostgreSQL {pgtools.server_major(url)} on this machine")
    return folder / name  # type: ignore[operator]
