"""Alert writes: budgets, evaluating the rules, state changes, deliveries, acknowledging.

State changes are rows (``AlertTransition``) written in the transaction that
changes the alert, with one ``Delivery`` per active channel beside them; the
send is queued once that commits (``transaction.on_commit``), and beat sweeps
whatever is due (a lost wake-up, a retry). A delivery is sent while its row is
locked (``select_for_update(skip_locked=True)``), so two workers never send the
same one, and marked sent in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from awu.alerts import delivery, evaluate, selectors
from awu.alerts.models import Alert, AlertState, AlertTransition, Budget, Channel, Delivery, Rule
from ledger import access, audit, clock
from ledger.errors import Conflict, NotFound
from ledger.models import Membership, Person, Team

logger = logging.getLogger(__name__)


class AlertResolved(Conflict):
    """A resolved alert cannot be acknowledged."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(
            "The alert is resolved: its condition no longer holds.",
            {"state": ["resolved"]},
            alert_id,
        )


# --- Budgets ------------------------------------------------------------------------------

BUDGET_FIELDS = ("monthly_usd", "target_awus_per_dollar")


def budget_save(*, budget: Budget, before: dict[str, Any] | None = None) -> Budget:
    """Validate and save ``budget`` (``full_clean``: a bad value raises ValidationError
    naming the field), audited as ``budget.set`` (new) or ``budget.changed`` with
    ``before`` in the same transaction."""
    budget.full_clean()
    with transaction.atomic():
        created = budget.pk is None
        budget.save()
        budget.refresh_from_db(fields=list(BUDGET_FIELDS))  # as stored: 250 reads 250.00
        audit.record(
            "budget.set" if created else "budget.changed",
            obj=budget,
            before=before,
            after=audit.field_values(budget, BUDGET_FIELDS),
        )
    return budget


# --- Evaluating the rules -----------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    period_key: str
    summary: str
    team_id: int | None = None
    person_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')):,}"


def _pace_findings(now: datetime, teams: dict[str, Team]) -> list[Finding]:
    spend = selectors.month_spend_by_team(now=now)
    out = []
    for slug, budget in selectors.budgets().items():
        verdict = evaluate.spend_pace(
            spend=spend.get(slug) or Decimal(0), budget=Decimal(budget.monthly_usd), now=now
        )
        if verdict is None:
            continue
        out.append(
            Finding(
                Rule.SPEND_PACE,
                f"team:{budget.team_id}",
                f"{now:%Y-%m}",
                f"{slug}: spend on pace for {_money(verdict.projected)} this month against a "
                f"{_money(verdict.budget)} budget ({_money(verdict.spend)} so far)",
                team_id=budget.team_id,
                details={k: str(v) for k, v in asdict(verdict).items()},
            )
        )
    return out


def _drop_findings(now: datetime, teams: dict[str, Team]) -> list[Finding]:
    period = settings.AWU_ALERTS_EFFICIENCY_WEEKS
    # Two periods, and room behind the current week for units still settling.
    weeks = selectors.weeks_by_team(now=now, weeks=2 * period + 8)
    threshold = Decimal(str(settings.AWU_ALERTS_EFFICIENCY_DROP_PCT))
    out = []
    for slug, series in weeks.items():
        verdict = evaluate.efficiency_drop(weeks=series, period_weeks=period, drop_pct=threshold)
        if verdict is None or slug not in teams:
            continue
        out.append(
            Finding(
                Rule.EFFICIENCY_DROP,
                f"team:{teams[slug].pk}",
                verdict.period_start.isoformat(),
                f"{slug}: AWUs per dollar fell {verdict.drop_pct}% ({verdict.previous} -> "
                f"{verdict.current}) over the {period} settled weeks from "
                f"{verdict.period_start.isoformat()}",
                team_id=teams[slug].pk,
                details={**{k: str(v) for k, v in asdict(verdict).items()}, "weeks": period},
            )
        )
    return out


def _outlier_findings(now: datetime, teams: dict[str, Team]) -> list[Finding]:
    window = settings.AWU_ALERTS_OUTLIER_DAYS
    today = now.date()
    # Yesterday (a whole day) and today so far, each against the days before it.
    data = selectors.daily_spend(last_day=today, days=window + 2)
    k = Decimal(str(settings.AWU_ALERTS_OUTLIER_K))
    floor = Decimal(str(settings.AWU_ALERTS_OUTLIER_FLOOR_USD))
    people = {
        p.pk: p
        for p in Person.objects.filter(
            pk__in=[int(s.split(":", 1)[1]) for s in data.spend if s.startswith("person:")]
        )
    }
    out = []
    for key, series in data.spend.items():
        kind, _, value = key.partition(":")
        first_spend = next((i for i, x in enumerate(series) if x > 0), len(series))
        for index in (len(series) - 2, len(series) - 1):
            history = series[max(index - window, first_spend) : index]
            verdict = evaluate.spend_outlier(
                history=history,
                spend=series[index],
                k=k,
                floor=floor,
                min_days=settings.AWU_ALERTS_OUTLIER_MIN_DAYS,
            )
            if verdict is None:
                continue
            day = data.days[index]
            team_id: int | None
            if kind == "team":
                if value not in teams:
                    continue
                team_id, person_id, name = teams[value].pk, None, value
                subject = f"team:{team_id}"
            else:
                person = people.get(int(value))
                if person is None:
                    continue
                person_id, name = person.pk, person.name
                team_id = _team_of(person, now)
                subject = f"person:{person_id}"
            out.append(
                Finding(
                    Rule.SPEND_OUTLIER,
                    subject,
                    day.isoformat(),
                    f"{name}: {_money(verdict.spend)} of spend on {day.isoformat()}"
                    f"{' (so far)' if day == today else ''}, against a trailing median of "
                    f"{_money(verdict.median)} (threshold {_money(verdict.threshold)})",
                    team_id=team_id,
                    person_id=person_id,
                    details={**{k_: str(v) for k_, v in asdict(verdict).items()}, "day": day},
                )
            )
    return out


def _team_of(person: Person, now: datetime) -> int | None:
    membership = (
        Membership.objects.filter(person=person, valid_from__lte=now)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))
        .order_by("-valid_from")
        .first()
    )
    return membership.team_id if membership else None


RULES = {
    Rule.SPEND_PACE: _pace_findings,
    Rule.EFFICIENCY_DROP: _drop_findings,
    Rule.SPEND_OUTLIER: _outlier_findings,
}


def alerts_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Run every rule; open an alert per new finding (never a second for the same
    rule, subject and period), reopen a resolved one that holds again, and resolve
    every active alert of a rule that no longer finds it. Returns counts."""
    now = now or clock.now()
    teams = {t.slug: t for t in Team.objects.all()}
    counts = {"opened": 0, "resolved": 0, "active": 0}
    for rule, finder in RULES.items():
        findings = finder(now, teams)
        held = set()
        for finding in findings:
            held.add((finding.subject, finding.period_key))
            if _open(finding, now):
                counts["opened"] += 1
            counts["active"] += 1
        stale = Alert.objects.filter(
            rule=rule, state__in=(AlertState.OPEN, AlertState.ACKNOWLEDGED)
        ).values_list("pk", "subject", "period_key")
        for pk, subject, period_key in stale:
            if (subject, period_key) not in held and _resolve(pk, now):
                counts["resolved"] += 1
    return counts


def _open(finding: Finding, now: datetime) -> bool:
    """Open (or reopen) the finding's alert; True when that changed its state."""
    with transaction.atomic():
        alert, created = Alert.objects.get_or_create(
            rule=finding.rule,
            subject=finding.subject,
            period_key=finding.period_key,
            defaults={
                "team_id": finding.team_id,
                "person_id": finding.person_id,
                "summary": finding.summary,
                "details": audit.jsonable(finding.details),
                "opened_at": now,
            },
        )
        if created:
            _transition(alert, AlertState.OPEN, now=now)
            return True
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        alert.summary, alert.details = finding.summary, audit.jsonable(finding.details)
        reopened = alert.state == AlertState.RESOLVED
        if reopened:
            alert.state, alert.resolved_at, alert.opened_at = AlertState.OPEN, None, now
            alert.acknowledged_at, alert.acknowledged_by = None, ""
        alert.save()
        if reopened:
            _transition(alert, AlertState.OPEN, now=now)
        return reopened


def _resolve(pk: int, now: datetime) -> bool:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=pk)
        if alert.state == AlertState.RESOLVED:
            return False
        alert.state, alert.resolved_at = AlertState.RESOLVED, now
        alert.save(update_fields=["state", "resolved_at"])
        _transition(alert, AlertState.RESOLVED, now=now)
        return True


def alert_acknowledge(*, alert_id: int, actor: str, teams: frozenset[int] | None = None) -> Alert:
    """Acknowledge an open alert as ``actor``; acknowledging it again changes nothing
    (no second notification). Raises ``NotFound`` (also for an alert about a team
    outside ``teams``, the teams the caller reads; None: every team), or
    ``AlertResolved`` once resolved."""
    now = clock.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None or not access.may_read_team(teams, alert.team_id):
            raise NotFound("No such alert.")
        if alert.state == AlertState.RESOLVED:
            raise AlertResolved(alert.pk)
        if alert.state == AlertState.OPEN:
            alert.state, alert.acknowledged_at, alert.acknowledged_by = (
                AlertState.ACKNOWLEDGED,
                now,
                actor[:254],
            )
            alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
            _transition(alert, AlertState.ACKNOWLEDGED, now=now, actor=actor)
            audit.record("alert.acknowledged", obj=alert, after={"state": alert.state})
    return Alert.objects.select_related("team", "person").get(pk=alert.pk)


def _transition(alert: Alert, state: str, *, now: datetime, actor: str = "") -> AlertTransition:
    """Record the state change and one delivery per active channel; queue the sends
    once the transaction commits."""
    row = AlertTransition.objects.create(alert=alert, state=state, at=now, actor=actor[:254])
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(transition=row, channel=channel, next_attempt_at=wall_now(), created_at=now)
            for channel in Channel.objects.filter(active=True)
        ]
    )
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: _queue(ids))
    return row


def _queue(ids: list[int]) -> None:
    from awu.alerts import tasks  # tasks import this module

    for pk in ids:
        try:
            tasks.deliver.delay(pk)
        except Exception:  # a broker that is down: beat's sweep sends it
            logger.warning("could not queue alert delivery %s; the sweep will send it", pk)


# --- Sending ------------------------------------------------------------------------------


def wall_now() -> datetime:
    """Retries run on the wall clock: they wait for a peer to come back, in real time,
    whatever ``AWU_NOW`` pins the ledger's clock to (a pinned clock never lets one fall due)."""
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from the base."""
    return timedelta(seconds=settings.AWU_ALERTS_RETRY_SECONDS * 2 ** max(attempts - 1, 0))


def delivery_attempt(*, delivery_id: int) -> str | None:
    """Send one delivery if it is pending and due; returns its state after, or None
    when it was not due, not pending, or another worker holds it."""
    now = wall_now()
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel", "transition__alert__team")
            .filter(pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if row is None:
            return None
        # Sent while the row is locked: a second worker skips it rather than send again.
        row.attempts += 1
        try:
            delivery.send(
                row.channel, row.transition.alert, row.transition, now=int(now.timestamp())
            )
        except delivery.DeliveryError as exc:
            row.last_error = str(exc)[:2000]
            if exc.permanent or row.attempts >= settings.AWU_ALERTS_MAX_ATTEMPTS:
                row.state = Delivery.State.FAILED
                logger.error("alert delivery %s failed for good: %s", row.pk, exc)
            else:
                row.next_attempt_at = wall_now() + backoff(row.attempts)
        else:
            row.state, row.sent_at, row.last_error = Delivery.State.SENT, wall_now(), ""
        row.save(update_fields=["attempts", "state", "sent_at", "last_error", "next_attempt_at"])
        return row.state


def deliveries_due() -> list[int]:
    """Pending deliveries whose next attempt is due, oldest first."""
    return list(
        Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=wall_now())
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:500]
    )
