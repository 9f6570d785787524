"""Sending one alert transition to one channel: the signed webhook and the email.

The webhook body is Slack-compatible (``text`` and ``blocks``, so a Slack
incoming-webhook URL works as is) plus a structured ``alert`` object. It is
signed like Stripe's: ``X-AWU-Signature: t=<unix seconds>,v1=<hex>`` where v1 is
HMAC-SHA256 of ``"<t>." + body`` with the channel's secret; the receiver checks
it in constant time and refuses an old ``t`` (docs/alerts.md has the snippet).
Secrets are encrypted at rest with the ledger's Fernet helpers.

``send`` raises ``DeliveryError`` for anything worth retrying (a 5xx, 429, a
timeout, a refused connection, an SMTP error); the caller keeps the schedule.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import orjson
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from awu.alerts.models import Alert, AlertTransition, Channel
from ledger import secrets

SIGNATURE_HEADER = "X-AWU-Signature"


class DeliveryError(Exception):
    """A delivery attempt failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def secret_encrypt(secret: str) -> str:
    return secrets.encrypt(secret)


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(body: bytes, header: str, *, secret: str, now: int, tolerance: int = 300) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(body, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


_VERBS = {"open": "opened", "acknowledged": "acknowledged", "resolved": "resolved"}


def title(alert: Alert, transition: AlertTransition) -> str:
    who = (
        f" by {transition.actor}" if transition.state == "acknowledged" and transition.actor else ""
    )
    return f"[AWU alert {_VERBS[transition.state]}{who}] {alert.summary}"


def alert_object(alert: Alert, transition: AlertTransition) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "state": transition.state,
        "transition_id": transition.pk,
        "transition_at": transition.at.isoformat(),
        "actor": transition.actor or None,
        "team": alert.team.slug if alert.team is not None else None,
        "person": alert.person_id,
        "period_key": alert.period_key,
        "summary": alert.summary,
        "details": alert.details,
        "url": f"{settings.AWU_PUBLIC_URL.rstrip('/')}/alerts/#alert-{alert.pk}",
    }


def webhook_body(alert: Alert, transition: AlertTransition) -> bytes:
    text = title(alert, transition)
    obj = alert_object(alert, transition)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"rule `{alert.rule}` · period {alert.period_key}"}
            ],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open"},
                    "url": obj["url"],
                }
            ],
        },
    ]
    return orjson.dumps({"text": text, "blocks": blocks, "alert": obj})


def send(channel: Channel, alert: Alert, transition: AlertTransition, *, now: int) -> None:
    """Deliver ``transition`` of ``alert`` to ``channel``; raises ``DeliveryError``."""
    if channel.kind == Channel.Kind.WEBHOOK:
        _send_webhook(channel, alert, transition, now=now)
    else:
        _send_email(channel, alert, transition)


def _send_webhook(channel: Channel, alert: Alert, transition: AlertTransition, *, now: int) -> None:
    body = webhook_body(alert, transition)
    headers = {"Content-Type": "application/json", "User-Agent": "awu-ledger-alerts"}
    secret = secrets.decrypt(channel.secret_encrypted) if channel.secret_encrypted else None
    if channel.secret_encrypted and secret is None:
        raise DeliveryError("the channel's signing secret cannot be decrypted; set it again")
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret=secret, timestamp=now)
    try:
        response = httpx.post(
            channel.url,
            content=body,
            headers=headers,
            timeout=settings.AWU_ALERTS_WEBHOOK_TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise DeliveryError(f"answered {response.status_code}")
    if response.status_code >= 300:
        # A 4xx will answer the same next time: recorded as failed, not retried.
        raise DeliveryError(f"answered {response.status_code}", permanent=True)


def _send_email(channel: Channel, alert: Alert, transition: AlertTransition) -> None:
    obj = alert_object(alert, transition)
    subject = title(alert, transition)
    lines = [
        subject,
        "",
        f"Rule: {alert.get_rule_display()} ({alert.rule})",
        f"Subject: {obj['team'] or ''}{' person ' + str(alert.person_id) if alert.person_id else ''}",
        f"Period: {alert.period_key}",
        f"State: {transition.state}",
        "",
        *(f"{k}: {v}" for k, v in sorted(alert.details.items())),
        "",
        f"Open: {obj['url']}",
    ]
    message = EmailMultiAlternatives(
        subject=subject[:200],
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=channel.recipient_list(),
    )
    try:
        message.send(fail_silently=False)
    except OSError as exc:  # smtplib.SMTPException is an OSError
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
