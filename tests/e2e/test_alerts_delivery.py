"""Alerts end to end: beat evaluates the rules in a real Celery worker, which delivers
to a real SMTP server (aiosmtpd) and a real webhook receiver on loopback.

The worker and beat run with the clock pinned to the scenario's day; retries are
due at once (AWU_ALERTS_RETRY_SECONDS=0: the backoff's growth is tested in
tests/awu/alerts), and beat sweeps every second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from awu.alerts import delivery
from awu.alerts.models import Alert, Channel, Delivery, DigestRecipient, DigestRun
from ledger import auth
from tests.awu.alerts.receivers import Receiver, Smtp
from tests.awu.alerts.scenario import NOW, trip_every_rule
from tests.e2e.conftest import Stack, stack_environment, wait_for

SECRET = "whsec-e2e"
RULES = 4  # spend_pace (payments), spend_outlier (alice, payments), efficiency_drop (mobile)


@pytest.fixture
def alert_stack(
    transactional_db: None, tmp_path: Path, smtp: Smtp, receiver: Receiver
) -> Iterator[Stack]:
    """Web, one worker and beat, on the filesystem broker, wired to the two receivers."""
    queue = f"e2e-{uuid.uuid4().hex[:10]}"
    env = stack_environment(tmp_path, queue=queue, broker=None)
    env.update(
        AWU_NOW=NOW,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
        EMAIL_TIMEOUT="2",
        AWU_ALERTS_EVALUATE_SECONDS="3",
        AWU_ALERTS_SWEEP_SECONDS="1",
        AWU_ALERTS_RETRY_SECONDS="0",
        AWU_ALERTS_WEBHOOK_TIMEOUT_SECONDS="1",
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    _, key = auth.api_key_create(name="e2e-admin", scopes=["admin"])
    running = Stack(env=env, logs=logs, queue=queue, broker_url=None, key=key)
    try:
        running.start_web()
        running.start_worker()
        running.wait_ready()
        yield running
    finally:
        running.stop()


def _start_beat(stack: Stack) -> None:
    import sys

    stack.workers.append(
        stack._spawn(
            "beat", [sys.executable, "-m", "celery", "-A", "awu", "beat", "--loglevel", "INFO"]
        )
    )


def _answered(receiver: Receiver, state: str) -> list[dict[str, Any]]:
    out = []
    for request in list(receiver.requests):
        body = orjson.loads(request["body"])
        if body["alert"]["state"] == state and request["status"] == 200:
            out.append(body)
    return out


def test_alerts_fire_and_reach_email_and_a_signed_webhook_once_each(
    alert_stack: Stack, smtp: Smtp, receiver: Receiver
) -> None:
    Channel.objects.create(
        name="hook",
        kind="webhook",
        url=receiver.url,
        secret_encrypted=delivery.secret_encrypt(SECRET),
    )
    Channel.objects.create(name="mail", kind="email", recipients="lead@example.com")
    trip_every_rule()
    # The first attempt times out, the second answers 500, the rest succeed.
    receiver.stall, receiver.stall_seconds, receiver.fail = 1, 2.5, 1
    _start_beat(alert_stack)

    def delivered() -> bool:
        return Delivery.objects.filter(state="sent").count() == 2 * RULES

    wait_for(delivered, timeout=90, what=f"alert deliveries\n{alert_stack.tail()}")
    assert Alert.objects.filter(state="open").count() == RULES
    statuses = [r["status"] for r in receiver.requests]
    assert statuses[:2] == ["stalled", 500]
    opened = _answered(receiver, "open")
    assert len(opened) == RULES
    assert len({b["alert"]["transition_id"] for b in opened}) == RULES
    for request in receiver.requests:
        header = request["headers"]["X-AWU-Signature"]
        stamp = int(dict(p.split("=", 1) for p in header.split(","))["t"])
        assert delivery.verify(request["body"], header, secret=SECRET, now=stamp)
    mails = list(smtp.messages)
    assert len(mails) == RULES
    assert any("on pace for" in m["Subject"] and "payments" in m["Subject"] for m in mails)
    assert any("AWUs per dollar fell 80.0%" in m["Subject"] for m in mails)

    # Acknowledged through the API: one more notification per channel, once.
    pace = Alert.objects.get(rule="spend_pace")
    url = f"{alert_stack.base_url}/api/v1/alerts/{pace.pk}/acknowledge"
    headers = {"Authorization": f"Bearer {alert_stack.key}"}
    for _ in range(2):
        assert httpx.post(url, headers=headers, timeout=30).status_code == 200
    wait_for(lambda: len(_answered(receiver, "acknowledged")) == 1, timeout=60, what="ack webhook")
    wait_for(
        lambda: sum("acknowledged" in m["Subject"] for m in smtp.messages) == 1,
        timeout=60,
        what="ack email",
    )
    time.sleep(4)  # more sweeps and evaluations: nothing is sent again
    assert len(_answered(receiver, "acknowledged")) == 1
    assert len(_answered(receiver, "open")) == RULES
    assert len(smtp.messages) == RULES + 1

    # The digest: SMTP down -> pending (retried), SMTP up -> sent once.
    smtp.stop()
    DigestRecipient.objects.create(email="ceo@example.com")
    wait_for(
        lambda: DigestRun.objects.filter(state="pending", attempts__gte=2).exists(),
        timeout=60,
        what="a digest attempted while SMTP is down",
    )
    assert DigestRun.objects.get().last_error
    smtp.start()
    wait_for(
        lambda: DigestRun.objects.filter(state="sent").exists(), timeout=60, what="digest sent"
    )
    time.sleep(3)
    digests = [m for m in smtp.messages if "weekly digest" in m["Subject"]]
    assert len(digests) == 1
    assert DigestRun.objects.count() == 1
