"""Wake-ups for outbox consumers.

The outbox table (ledger.EventOutbox) is the source of truth: it is written in the
same transaction as the events. The broker only carries a wake-up telling a
consumer to look at it, so a lost message, or a broker that is down, loses
nothing — the periodic sweep finds whatever is left.

The ledger does not import its consumers: it sends the task named by
AWU_OUTBOX_WAKE_TASK. Wake-ups are coalesced per process (at most one per
WAKE_INTERVAL), since one consumer run drains everything that is pending.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

WAKE_INTERVAL = 0.05  # seconds


class _Waker:
    """A daemon thread per process that sends wake-ups off the request path.

    ``wake()`` only sets a flag, so a slow or unreachable broker never delays an
    ingest response; the thread sends at most one wake-up per WAKE_INTERVAL.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def wake(self) -> None:
        self._pending.set()
        # Started lazily and per process: a thread does not survive gunicorn's fork.
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pending = threading.Event()
                    self._pending.set()
                    self._thread = threading.Thread(
                        target=self._run, name="outbox-waker", daemon=True
                    )
                    self._thread.start()
                    self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            self._pending.clear()
            _send()
            time.sleep(WAKE_INTERVAL)


def _send() -> None:
    task = getattr(settings, "AWU_OUTBOX_WAKE_TASK", "")
    if not task:
        return
    try:
        # The project's app, made Celery's default at start-up: current_app is
        # per thread and falls back to the default in this one.
        current_app.send_task(task, retry=False, ignore_result=True)
    except Exception as exc:  # a broker outage must never fail an ingest
        logger.warning("could not send the scoring wake-up (%s); the sweep will catch up", exc)


_waker = _Waker()


def wake_after_commit() -> None:
    transaction.on_commit(_waker.wake)
