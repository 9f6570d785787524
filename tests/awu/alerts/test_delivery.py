"""Alerts fire, and reach a real SMTP server and a real webhook receiver exactly once."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from awu.alerts import delivery, digest, services
from awu.alerts.models import Alert, Channel, Delivery, DigestRecipient, DigestRun
from tests.awu.alerts.receivers import Receiver, Smtp
from tests.awu.alerts.scenario import NOW, trip_every_rule

SECRET = "whsec-test-1"


@pytest.fixture
def wired(settings: Any, db: None, smtp: Smtp, receiver: Receiver) -> dict[str, Any]:
    settings.AWU_NOW = NOW
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_TIMEOUT = 2
    settings.AWU_ALERTS_WEBHOOK_TIMEOUT_SECONDS = 0.5
    # Retries fall due at once (they run on the wall clock); the backoff's growth is below.
    settings.AWU_ALERTS_RETRY_SECONDS = 0
    Channel.objects.create(
        name="hook",
        kind="webhook",
        url=receiver.url,
        secret_encrypted=delivery.secret_encrypt(SECRET),
    )
    Channel.objects.create(name="mail", kind="email", recipients="lead@example.com")
    people = trip_every_rule()
    return {"people": people}


def _sweep() -> None:
    for pk in services.deliveries_due():
        services.delivery_attempt(delivery_id=pk)


def _bodies(receiver: Receiver, state: str | None = None) -> list[dict[str, Any]]:
    out = []
    for request in receiver.requests:
        body = orjson.loads(request["body"])
        if state is None or body["alert"]["state"] == state:
            out.append(body)
    return out


def test_every_rule_fires_once_however_often_it_is_evaluated(wired: dict[str, Any]) -> None:
    services.alerts_evaluate()
    services.alerts_evaluate()
    found = {(a.rule, a.subject) for a in Alert.objects.all()}
    alice, _ = wired["people"]["alice"], wired["people"]["bob"]
    assert ("spend_pace", f"team:{Alert.objects.get(rule='spend_pace').team_id}") in found
    assert ("spend_outlier", f"person:{alice.pk}") in found
    assert {r for r, _ in found} == {"spend_pace", "spend_outlier", "efficiency_drop"}
    drop = Alert.objects.get(rule="efficiency_drop")
    assert drop.team is not None
    assert drop.team.slug == "mobile"
    assert drop.details["drop_pct"] == "80.0"
    assert Alert.objects.count() == len(found)


def test_webhook_is_signed_retried_after_500_and_timeout_and_delivered_once(
    wired: dict[str, Any], receiver: Receiver, smtp: Smtp, settings: Any
) -> None:
    receiver.fail, receiver.stall, receiver.stall_seconds = 1, 1, 1.5
    services.alerts_evaluate()
    alerts = Alert.objects.count()
    _sweep()
    # First call stalled past the timeout, the second answered 500: both pending, alert open.
    hooks = Delivery.objects.filter(channel__kind="webhook")
    assert hooks.filter(state="pending").count() >= 1
    assert set(Alert.objects.values_list("state", flat=True)) == {"open"}
    for _ in range(4):
        _sweep()
    assert set(hooks.values_list("state", flat=True)) == {"sent"}
    time.sleep(1.6)  # the stalled request's handler finishes recording
    opened = _bodies(receiver, "open")
    # Sent once per transition (retries of the failed ones were answered and counted once).
    delivered_ok = {b["alert"]["transition_id"] for b in opened}
    assert len(delivered_ok) == alerts
    assert len(opened) == alerts + 2  # the timed-out and the 500 attempts, then each once
    for request in receiver.requests:
        header = request["headers"]["X-AWU-Signature"]
        stamp = int(header.split(",")[0].split("=")[1])
        assert delivery.verify(request["body"], header, secret=SECRET, now=stamp)
        assert not delivery.verify(request["body"] + b" ", header, secret=SECRET, now=stamp)
        body = orjson.loads(request["body"])
        assert body["text"]
        assert body["blocks"]
        assert body["alert"]["rule"]
    # Email: one message per opened alert, naming it.
    assert len(smtp.messages) == alerts
    subjects = " ".join(m["Subject"] for m in smtp.messages)
    assert "on pace for" in subjects
    assert "AWUs per dollar fell 80.0%" in subjects


def test_acknowledging_notifies_once(wired: dict[str, Any], receiver: Receiver, smtp: Smtp) -> None:
    services.alerts_evaluate()
    _sweep()
    alert = Alert.objects.get(rule="spend_pace")
    services.alert_acknowledge(alert_id=alert.pk, actor="dana")
    services.alert_acknowledge(alert_id=alert.pk, actor="dana")
    _sweep()
    _sweep()
    acked = _bodies(receiver, "acknowledged")
    assert len(acked) == 1
    assert acked[0]["alert"]["actor"] == "dana"
    assert sum("acknowledged by dana" in m["Subject"] for m in smtp.messages) == 1
    alert.refresh_from_db()
    assert alert.state == "acknowledged"
    assert alert.acknowledged_by == "dana"


def test_an_alert_whose_condition_stops_holding_resolves(wired: dict[str, Any]) -> None:
    services.alerts_evaluate()
    from awu.alerts.models import Budget

    Budget.objects.update(monthly_usd=100000)
    counts = services.alerts_evaluate()
    assert counts["resolved"] == 1
    assert Alert.objects.get(rule="spend_pace").state == "resolved"


def test_a_webhook_failing_every_time_ends_failed_and_visible(
    wired: dict[str, Any], receiver: Receiver, settings: Any
) -> None:
    settings.AWU_ALERTS_MAX_ATTEMPTS = 3
    receiver.fail = 10_000
    services.alerts_evaluate()
    for _ in range(5):
        _sweep()
    hooks = Delivery.objects.filter(channel__kind="webhook")
    assert set(hooks.values_list("state", flat=True)) == {"failed"}
    assert set(hooks.values_list("attempts", flat=True)) == {3}
    assert all("500" in e for e in hooks.values_list("last_error", flat=True))
    assert set(Alert.objects.values_list("state", flat=True)) == {"open"}


def test_digest_waits_for_a_down_smtp_server_and_is_sent_once(
    wired: dict[str, Any], smtp: Smtp, settings: Any
) -> None:
    DigestRecipient.objects.create(email="ceo@example.com")
    services.alerts_evaluate()
    smtp.stop()
    assert digest.digest_runs_create() == 1
    assert digest.digest_runs_create() == 0
    assert digest.digests_send() == 0
    run = DigestRun.objects.get()
    assert run.state == "pending"
    assert run.attempts == 1
    assert run.last_error
    smtp.start()
    assert digest.digests_send() == 1
    assert digest.digests_send() == 0
    digests = [m for m in smtp.messages if "weekly digest" in m["Subject"]]
    assert len(digests) == 1
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in digests[0].walk()
        if not p.is_multipart()
    }
    assert "Biggest movers" in parts["text/plain"]
    assert "Open alerts" in parts["text/plain"]
    assert "<table" in parts["text/html"]
    assert "on pace for" in parts["text/plain"]


def test_retries_back_off_exponentially(settings: Any) -> None:
    settings.AWU_ALERTS_RETRY_SECONDS = 30
    assert [services.backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 480]


def test_a_failed_webhook_is_not_retried_before_its_backoff(
    wired: dict[str, Any], receiver: Receiver, settings: Any
) -> None:
    settings.AWU_ALERTS_RETRY_SECONDS = 30
    receiver.fail = 10_000
    services.alerts_evaluate()
    _sweep()
    tried = len(receiver.requests)
    _sweep()
    assert len(receiver.requests) == tried
    wait = Delivery.objects.filter(channel__kind="webhook").values_list(
        "next_attempt_at", flat=True
    )
    assert all(25 < (w - services.wall_now()).total_seconds() <= 30 for w in wait)
