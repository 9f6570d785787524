"""Outbox wake-ups: sent off the request path, through the project's broker."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger import outbox


def queued_task_names(folder: Path) -> dict[Path, str]:
    names = {}
    for path in folder.glob("*.msg"):
        message = orjson.loads(path.read_bytes())
        names[path] = message.get("headers", {}).get("task", "")
    return names


def test_a_wake_up_sent_from_another_thread_reaches_the_configured_broker(
    settings: Any,
) -> None:
    if not settings.CELERY_BROKER_URL.startswith("awufs://"):
        pytest.skip("reads the queue of the filesystem broker")
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])
    settings.AWU_OUTBOX_WAKE_TASK = f"probe.wake-{uuid.uuid4()}"
    # As the waker does: from a thread of its own, where Celery's current app is
    # not the one the importing thread set.
    sender = threading.Thread(target=outbox._send)
    sender.start()
    sender.join(timeout=30)
    sent = [
        path
        for path, task in queued_task_names(folder).items()
        if task == settings.AWU_OUTBOX_WAKE_TASK
    ]
    for path in sent:
        path.unlink()
    assert len(sent) == 1
    assert sent[0].name.endswith(f".{settings.CELERY_TASK_DEFAULT_QUEUE}.msg")
