"""Data that trips every alert rule on 2026-03-20 (the clock the tests pin).

- payments: a $100 monthly budget; alice spends $1 a day from 1 March and $300
  today: on pace over the budget, and an outlier day for alice and for payments.
- mobile: completed units every week; 10 AWUs per $10 week from 19 Jan to
  15 Feb, 2 AWUs per $10 week since: AWUs per dollar fell 80% on settled weeks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from awu.alerts.models import Budget
from ledger.models import Person
from tests.awu.reports import build

NOW = "2026-03-20T12:00:00Z"


def trip_every_rule() -> dict[str, Person]:
    payments = build.team("payments")
    Budget.objects.create(team=payments, monthly_usd=Decimal(100))
    alice = build.person("alice", team_slug="payments")
    for day in range(1, 20):
        build.usage(actor=build.actor_of(alice), cost="1.00", occurred_at=build.at(day))
    build.usage(actor=build.actor_of(alice), cost="300.00", occurred_at=build.at(20, hour=9))

    mobile = build.team("mobile")
    bob = build.person("bob", team_slug="mobile")
    version = build.definition("shipped")
    monday = date(2026, 1, 19)
    for week in range(8):
        when = datetime.combine(monday + timedelta(weeks=week, days=1), datetime.min.time(), UTC)
        awus = "10" if week < 4 else "2"
        build.unit(version, owner=bob, team_=mobile, units=awus, triggered_at=when)
        build.usage(actor=build.actor_of(bob), cost="10.00", occurred_at=when, team_slug="mobile")
    return {"alice": alice, "bob": bob}
