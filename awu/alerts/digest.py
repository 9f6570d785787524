"""The weekly digest: last week's headline numbers, the biggest movers, the open alerts.

A ``DigestRun`` per (week, recipient) is created first (unique), then sent; a
send that fails (the SMTP server down) leaves it pending with the error, and the
next sweep tries again: a digest is delayed, never dropped, never sent twice
(the row is locked while it is sent and marked sent in the same transaction).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from awu.alerts.models import DigestRecipient, DigestRun
from awu.alerts.selectors import alert_row, alerts_queryset
from awu.reports.query import ReportQuery
from awu.reports.selectors import efficiency_report
from ledger import clock

logger = logging.getLogger(__name__)
MOVERS = 5


def digest_week_due(now: datetime) -> date | None:
    """The Monday of the week whose digest is due at ``now`` (last week's, from the
    configured weekday and hour of this week), or None before then."""
    monday = now.date() - timedelta(days=now.weekday())
    due = datetime.combine(
        monday + timedelta(days=settings.AWU_ALERTS_DIGEST_WEEKDAY),
        time(settings.AWU_ALERTS_DIGEST_HOUR),
        tzinfo=UTC,
    )
    return monday - timedelta(weeks=1) if now >= due else None


def digest_runs_create(*, now: datetime | None = None) -> int:
    """Create the due week's run for every active recipient (once each); returns how many are new."""
    week = digest_week_due(now or clock.now())
    if week is None:
        return 0
    emails = DigestRecipient.objects.filter(active=True).values_list("email", flat=True)
    before = DigestRun.objects.filter(week=week).count()
    # The unique (week, email) makes a second sweep, or a concurrent one, a no-op.
    DigestRun.objects.bulk_create(
        [DigestRun(week=week, email=e, created_at=clock.now()) for e in emails],
        ignore_conflicts=True,
    )
    return DigestRun.objects.filter(week=week).count() - before


def _delta(now: Any, before: Any) -> str | None:
    if now is None or before is None:
        return None
    change = Decimal(str(now)) - Decimal(str(before))
    return f"{'+' if change >= 0 else ''}{change.quantize(Decimal('0.000001')).normalize():f}"


def digest_content(week: date) -> dict[str, Any]:
    """The digest's figures for the week starting ``week`` against the week before."""
    start = datetime.combine(week, time.min, tzinfo=UTC)
    this = ReportQuery(start=start, stop=start + timedelta(weeks=1))
    last = ReportQuery(start=start - timedelta(weeks=1), stop=start)
    now_row = efficiency_report(query=this)[0]
    before_row = efficiency_report(query=last)[0]
    headline = [
        {
            "name": name,
            "value": now_row[field],
            "previous": before_row[field],
            "delta": _delta(now_row[field], before_row[field]),
        }
        for name, field in (
            ("AWUs completed (settled)", "awus_completed"),
            ("AWUs maturing", "awus_maturing"),
            ("Projected AWUs (projection)", "projected_awus"),
            ("Spend (USD)", "token_cost_usd"),
            ("AWUs per dollar", "awus_per_dollar"),
        )
    ]
    teams_now = {r["team"]: r for r in efficiency_report(query=replace(this, group_by=("team",)))}
    teams_before = {
        r["team"]: r for r in efficiency_report(query=replace(last, group_by=("team",)))
    }
    movers: list[dict[str, Any]] = []
    ranks: dict[str, tuple[Decimal, Decimal]] = {}
    for team in set(teams_now) | set(teams_before):
        a, b = teams_now.get(team, {}), teams_before.get(team, {})
        awus = Decimal(a.get("awus_completed") or 0) - Decimal(b.get("awus_completed") or 0)
        spend = Decimal(a.get("token_cost_usd") or 0) - Decimal(b.get("token_cost_usd") or 0)
        movers.append(
            {
                "team": team or "(no team)",
                "awus_delta": _delta(a.get("awus_completed") or 0, b.get("awus_completed") or 0),
                "spend_delta": _delta(a.get("token_cost_usd") or 0, b.get("token_cost_usd") or 0),
            }
        )
        ranks[team or "(no team)"] = (abs(awus), abs(spend))
    movers.sort(key=lambda m: ranks[m["team"]], reverse=True)
    alerts = [
        alert_row(a) for a in alerts_queryset(team_ids=None, state="active").order_by("-id")[:50]
    ]
    return {
        "week": week,
        "week_end": week + timedelta(days=6),
        "settles_by": now_row["settles_by"],
        "headline": headline,
        "movers": movers[:MOVERS],
        "alerts": alerts,
        "url": settings.AWU_PUBLIC_URL.rstrip("/"),
    }


def digest_message(week: date, email: str, content: dict[str, Any]) -> EmailMultiAlternatives:
    subject = f"AWU weekly digest: week of {week.isoformat()}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("alerts/digest.txt", content),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
    )
    message.attach_alternative(render_to_string("alerts/digest.html", content), "text/html")
    return message


def digests_send() -> int:
    """Send every pending digest run; returns how many were sent. A failure leaves
    the run pending (attempts and error recorded) for the next sweep."""
    sent = 0
    contents: dict[date, dict[str, Any]] = {}
    pending = DigestRun.objects.filter(state=DigestRun.State.PENDING).order_by("pk")
    for pk in pending.values_list("pk", flat=True)[:200]:
        with transaction.atomic():
            run = (
                DigestRun.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, state=DigestRun.State.PENDING)
                .first()
            )
            if run is None:
                continue
            if run.week not in contents:
                contents[run.week] = digest_content(run.week)
            run.attempts += 1
            try:
                digest_message(run.week, run.email, contents[run.week]).send(fail_silently=False)
            except OSError as exc:  # SMTP errors and refused connections
                run.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                logger.warning("digest %s to %s not sent yet: %s", run.week, run.email, exc)
            else:
                run.state, run.sent_at, run.last_error = DigestRun.State.SENT, clock.now(), ""
                sent += 1
            run.save(update_fields=["attempts", "state", "sent_at", "last_error"])
    return sent
