"""Rollups: incremental maintenance, and equality with the report computed from raw tables."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awu.reports.aggregate import PeriodSpan, period_span, periods_apply
from awu.reports.measures import rows_from_sides, sides_for
from awu.reports.models import UsageQueue
from awu.reports.query import ReportQuery
from awu.reports.rollups import LOCK_KEY, queues, rollups_behind, rollups_refresh
from awu.reports.selectors import efficiency_report, spend_deciles
from awu.scoring.models import WorkUnit
from ledger import directory
from ledger.models import CostAdjustment, Identity, Membership, Person, TokenUsage
from tests.awu.reports import build

pytestmark = pytest.mark.django_db


def efficiency_report_naive(*, query: ReportQuery) -> list[dict[str, Any]]:
    """The efficiency report by GROUP BY over the raw facts: what the rollups are held to."""
    return rows_from_sides(query, sides_for(query, raw=True))


MARCH = ReportQuery(start=datetime(2026, 3, 1, tzinfo=UTC), stop=datetime(2026, 4, 1, tzinfo=UTC))


def from_rollups(query: ReportQuery, *, periods: bool | None = None) -> list[dict[str, object]]:
    return rows_from_sides(query, sides_for(query, raw=False, periods=periods))


def test_usage_stored_after_a_refresh_reaches_the_report() -> None:
    build.usage(cost="1.00")
    rollups_refresh()
    build.usage(cost="2.00", occurred_at=build.at(9))
    [row] = efficiency_report(query=MARCH)
    assert row["token_cost_usd"] == "3.000000000"


def test_every_stored_usage_record_is_queued_for_the_rollups_until_a_refresh_takes_it() -> None:
    made = [build.usage(cost="1.00"), build.usage(cost="2.00")]
    assert set(UsageQueue.objects.values_list("usage_id", flat=True)) == {u.pk for u in made}
    rollups_refresh()
    assert not UsageQueue.objects.exists()


def test_days_that_only_gained_usage_take_its_sums_without_a_recompute() -> None:
    build.person("ann", team_slug="payments", actor="ann@example.com")
    build.usage(actor="ann@example.com", cost="1.00")
    rollups_refresh()
    build.usage(actor="ann@example.com", cost="2.00", occurred_at=build.at(2, hour=15))
    build.usage(actor="ben@example.com", cost="0.50", occurred_at=build.at(20), model="m2")

    stats = rollups_refresh()

    assert (stats.usage_days, stats.usage_added) == (set(), 2)
    for query in [MARCH, replace(MARCH, group_by=("team",)), replace(MARCH, group_by=("model",))]:
        naive = efficiency_report_naive(query=query)
        assert from_rollups(query, periods=False) == naive
        assert from_rollups(query, periods=True) == naive
    [row] = from_rollups(replace(MARCH, group_by=("team",)), periods=True)[:1]
    assert row["denominators"]["people"] == 1  # type: ignore[index]


def _store_usage_elsewhere(cost: str) -> None:
    """Store a usage record from another connection, committed at once."""

    def store() -> None:
        try:
            build.usage(cost=cost, occurred_at=build.at(2, hour=18))
        finally:
            connection.close()

    thread = threading.Thread(target=store)
    thread.start()
    thread.join(30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("day_recomputed", [False, True], ids=["sums-added", "day-recomputed"])
def test_usage_committed_while_a_refresh_runs_is_folded_in_exactly_once(
    monkeypatch: pytest.MonkeyPatch, day_recomputed: bool
) -> None:
    first = build.usage(cost="1.00")
    rollups_refresh()
    build.usage(cost="2.00")  # taken by the next refresh
    if day_recomputed:
        # A price correction makes the refresh recompute the whole day.
        CostAdjustment.objects.create(
            usage_id=first.id, delta_usd=Decimal("0.25"), reason="reprice"
        )
    take = queues.take

    def take_then_another_arrives() -> queues.Taken:
        taken = take()
        # Committed after the queues were taken, before the day is recomputed or
        # the taken sums are added: this refresh must leave it for the next.
        _store_usage_elsewhere("4.00")
        return taken

    monkeypatch.setattr(queues, "take", take_then_another_arrives)
    stats = rollups_refresh()
    monkeypatch.undo()

    assert (stats.usage_days != set()) is day_recomputed
    [row] = from_rollups(MARCH, periods=False)
    assert row["token_cost_usd"] == ("3.250000000" if day_recomputed else "3.000000000")
    assert UsageQueue.objects.count() == 1
    rollups_refresh()
    naive = efficiency_report_naive(query=MARCH)
    assert naive[0]["token_cost_usd"] == ("7.250000000" if day_recomputed else "7.000000000")
    assert from_rollups(MARCH, periods=False) == naive
    assert from_rollups(MARCH, periods=True) == naive


def _queued(queue: str) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {queue} ORDER BY 1")  # noqa: S608 - a test's constant
        return [row[0] for row in cursor.fetchall()]


def test_a_unit_updated_in_place_reaches_the_rollups_through_the_queue() -> None:
    w = build.unit(build.definition(), state="pending", credit=False)
    rollups_refresh()
    assert not rollups_behind(max_age_seconds=3600)
    # One UPDATE statement, as a scoring batch writes its units.
    WorkUnit.objects.filter(pk=w.pk).update(state="voided", completed_at=build.at(3))
    assert _queued("reports_unitqueue") == [w.pk]
    assert rollups_behind(max_age_seconds=3600)

    stats = rollups_refresh()

    assert (stats.units, _queued("reports_unitqueue")) == (1, [])
    [row] = from_rollups(MARCH)
    assert (row["awus_pending"], row["awus_voided"]) == ("0.000000", "1.000000")


def test_only_session_commit_events_are_queued_for_the_rollups() -> None:
    rollups_refresh()
    build.event("code.pr.merged", refs={"commit": ["abc"]})
    commit = build.event("x.session.commit", refs={"session": ["s9"], "commit": ["abc"]})
    assert _queued("reports_eventqueue") == [commit.pk]


def _laptop_of(person: Person) -> None:
    Identity.objects.create(value="laptop", person=person)


def _growth_for(person: Person) -> None:
    Membership.objects.create(person=person, team=build.team("growth"), valid_from=build.at(1))


# (before the usage and the first refresh, the change after it, the usage's team then)
WHO_CHANGES = {
    "identity-mapped": (
        lambda people: None,
        lambda people: _laptop_of(people["alice"]),
        "payments",
    ),
    "identity-repointed": (
        lambda people: _laptop_of(people["bob"]),
        lambda people: directory.identity_map(value="laptop", person=people["alice"]),
        "payments",
    ),
    "identity-deleted": (
        lambda people: _laptop_of(people["alice"]),
        lambda people: directory.identity_unmap(value="laptop"),
        None,
    ),
    "membership-added": (
        lambda people: _laptop_of(people["bob"]),
        lambda people: _growth_for(people["bob"]),
        "growth",
    ),
    "membership-edited": (
        lambda people: (_laptop_of(people["bob"]), _growth_for(people["bob"])),
        lambda people: [
            directory.revise(m, team=build.team("payments"))
            for m in Membership.objects.filter(person=people["bob"])
        ],
        "payments",
    ),
    "membership-deleted": (
        lambda people: (_laptop_of(people["bob"]), _growth_for(people["bob"])),
        lambda people: [
            directory.retract(m) for m in Membership.objects.filter(person=people["bob"])
        ],
        None,
    ),
}


@pytest.mark.parametrize("change", WHO_CHANGES)
def test_past_usage_follows_identity_and_membership_changes_at_the_next_refresh(
    change: str,
) -> None:
    before, after, team = WHO_CHANGES[change]
    people = {"alice": build.person("alice", team_slug="payments"), "bob": build.person("bob")}
    before(people)
    build.usage(actor="laptop", cost="1.00")
    rollups_refresh()

    after(people)
    rollups_refresh()

    by_team = replace(MARCH, group_by=("team",))
    assert [(row["team"], row["token_cost_usd"]) for row in from_rollups(by_team)] == [
        (team, "1.000000000")
    ]
    for query in [by_team, replace(MARCH, group_by=("person",))]:
        assert from_rollups(query) == efficiency_report_naive(query=query)


@pytest.mark.parametrize("change", WHO_CHANGES)
def test_past_units_follow_identity_and_membership_changes_at_the_next_refresh(
    change: str,
) -> None:
    before, after, team = WHO_CHANGES[change]
    people = {"alice": build.person("alice", team_slug="payments"), "bob": build.person("bob")}
    before(people)
    unit = build.unit(build.definition(), actor="laptop")
    rollups_refresh()

    after(people)
    rollups_refresh()

    by_team = replace(MARCH, group_by=("team",))
    assert [
        (row["team"], row["awus_completed"], row["units"]) for row in from_rollups(by_team)
    ] == [(team, "1.000000", 1)]
    for query in [by_team, replace(MARCH, group_by=("person",))]:
        assert from_rollups(query) == efficiency_report_naive(query=query)
    # The unit keeps what scoring resolved, as evidence; reports do not read it.
    unit.refresh_from_db()
    assert (unit.person_id, unit.team_id) == (None, None)


def test_a_unit_scored_before_its_actor_was_mapped_is_reported_under_the_person_mapped_later() -> (
    None
):
    build.unit(build.definition(), actor="ghost@example.com")
    rollups_refresh()
    [row] = from_rollups(replace(MARCH, group_by=("person",)))
    assert row["person"] is None

    dana = Person.objects.create(name="dana", email="dana@example.com")
    directory.identity_map(value="ghost@example.com", person=dana)
    directory.membership_start(person=dana, team=build.team("search"))
    rollups_refresh()

    [row] = efficiency_report(query=replace(MARCH, group_by=("person", "team")))
    assert (row["person"], row["team"], row["awus_completed"]) == (dana.pk, "search", "1.000000")


def test_a_membership_move_in_march_splits_past_units_between_the_teams() -> None:
    erin = build.person("erin", team_slug="payments")
    version = build.definition()
    for day in (2, 10, 20, 28):
        build.unit(version, owner=erin, triggered_at=build.at(day))
    rollups_refresh()

    [membership] = Membership.objects.filter(person=erin)
    directory.membership_end(membership, at=build.at(15, hour=0))
    directory.membership_start(person=erin, team=build.team("search"), valid_from=build.at(15, 0))
    rollups_refresh()

    by_team = replace(MARCH, group_by=("team",))
    assert [(row["team"], row["awus_completed"]) for row in efficiency_report(query=by_team)] == [
        ("payments", "2.000000"),
        ("search", "2.000000"),
    ]
    by_team_month = replace(MARCH, group_by=("team", "month"))
    assert from_rollups(by_team_month, periods=True) == efficiency_report_naive(query=by_team_month)


# Committed, so the first refresh's lock ends with its own transaction, as in a server.
@pytest.mark.django_db(transaction=True)
def test_a_report_does_not_wait_for_a_refresh_running_elsewhere() -> None:
    build.usage(cost="1.00")
    rollups_refresh()
    build.usage(cost="2.00", occurred_at=build.at(9))
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"] or None, port=db["PORT"] or None,
        password=db["PASSWORD"] or None, autocommit=True,
    ) as other:  # fmt: skip
        other.execute("SET lock_timeout = '10s'")  # a lock held here would fail, not hang
        other.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        assert rollups_refresh(wait=False).skipped
        [row] = from_rollups(MARCH)
        assert row["token_cost_usd"] == "1.000000000"  # as the last refresh left it
        # Released here: a closed connection's locks go only when its server
        # process has exited, which may be after the next statement.
        other.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    stats = rollups_refresh(wait=False)
    assert not stats.skipped
    [row] = from_rollups(MARCH)
    assert row["token_cost_usd"] == "3.000000000"


@pytest.mark.django_db(transaction=True)
def test_a_report_on_a_read_only_session_reads_the_rollups_as_they_stand() -> None:
    build.usage(cost="1.00")
    rollups_refresh()
    build.usage(cost="2.00", occurred_at=build.at(9))
    # As on a hot standby (a read replica), where every transaction is read-only.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        [row] = efficiency_report(query=MARCH)
        assert row["token_cost_usd"] == "1.000000000"
    [row] = efficiency_report(query=MARCH)
    assert row["token_cost_usd"] == "3.000000000"


def test_a_session_commit_arriving_later_ties_earlier_spend() -> None:
    build.unit(build.definition(), refs={"commit": ["abc"]})
    build.usage(cost="2.00", refs={"session": ["s9"]})
    rollups_refresh()
    build.event("x.session.commit", refs={"session": ["s9"], "commit": ["abc"]})
    rollups_refresh()
    [row] = from_rollups(MARCH)
    assert row["spend_tied_usd"]["completed"] == "2.000000000"


def test_a_later_log_record_stops_the_metrics_record_of_its_session_counting() -> None:
    build.usage(cost="2.00", refs={"session": ["s1"]}, attributes={"derived_from": "metrics"})
    rollups_refresh()
    build.usage(
        cost="2.00",
        refs={"session": ["s1"]},
        attributes={"derived_from": "logs"},
        occurred_at=build.at(20),
    )
    rollups_refresh()
    [row] = from_rollups(MARCH)
    assert row["token_cost_usd"] == "2.000000000"


def test_a_whole_month_team_report_is_answered_by_the_monthly_rollups() -> None:
    assert periods_apply(replace(MARCH, group_by=("team", "month")), ("team", "month"))


def test_a_person_report_or_filter_is_answered_by_the_person_monthly_rollups() -> None:
    assert periods_apply(replace(MARCH, group_by=("person",)), ("person",))
    assert periods_apply(replace(MARCH, person=1, group_by=("month",)), ("month",))


def test_a_week_grouping_is_answered_by_the_weekly_rollups_without_the_person() -> None:
    # March 2026 starts on a Sunday: its whole weeks run from Monday the 2nd to the
    # 29th, the 1st and the 30th-31st come from the daily rollups.
    span = period_span(replace(MARCH, group_by=("team", "week")), ("team", "week"))
    assert span == PeriodSpan("week", date(2026, 3, 2), date(2026, 3, 30), edges=True)
    assert not periods_apply(replace(MARCH, group_by=("person", "week")), ("person", "week"))
    assert not periods_apply(replace(MARCH, person=1, group_by=("week",)), ("week",))
    one_week = replace(
        MARCH, start=datetime(2026, 3, 3, tzinfo=UTC), stop=datetime(2026, 3, 10, tzinfo=UTC)
    )
    assert not periods_apply(replace(one_week, group_by=("week",)), ("week",))


def test_a_partial_month_without_a_whole_one_falls_back_to_daily_rollups() -> None:
    assert not periods_apply(
        replace(
            MARCH, start=datetime(2026, 3, 2, tzinfo=UTC), stop=datetime(2026, 3, 30, tzinfo=UTC)
        ),
        (),
    )


def test_monthly_people_count_each_person_once_across_rows() -> None:
    build.person("ann", team_slug="payments", actor="ann@example.com")
    build.usage(actor="ann@example.com", cost="1.00", model="m1")
    build.usage(actor="ann@example.com", cost="1.00", model="m2", occurred_at=build.at(20))
    rollups_refresh()
    [row] = from_rollups(replace(MARCH, group_by=("team",)), periods=True)
    assert row["denominators"]["people"] == 1  # type: ignore[index]


# --- Property: rollups equal the raw report ------------------------------------------

DAYS = st.integers(min_value=1, max_value=31)
# Mostly March; February and April too, so periods that are not whole months take
# their whole months from the monthly rollups and their edges from the daily ones.
MONTHS = st.sampled_from([2, 3, 3, 3, 4])
usage_strategy = st.fixed_dictionaries(
    {
        "actor": st.sampled_from(["ann@example.com", "ben@example.com", "ghost", None]),
        "cost": st.sampled_from(["0.10", "1.00", "2.50", None]),
        "day": DAYS,
        "month": MONTHS,
        # "unlisted" has no price: its records are always unpriced.
        "model": st.sampled_from(["m1", "m2", "unlisted"]),
        "team": st.sampled_from([None, None, "ops"]),
        "session": st.sampled_from([None, "s1", "s2"]),
        "derived": st.sampled_from([None, "logs", "metrics"]),
    }
)
unit_strategy = st.fixed_dictionaries(
    {
        "owner": st.sampled_from(["ann", "ben", None]),
        "definition": st.sampled_from(["shipped", "signed"]),
        "state": st.sampled_from(["pending", "completed", "voided", "expired"]),
        "units": st.sampled_from(["1", "2", "0.5"]),
        "day": DAYS,
        "month": MONTHS,
        "late": st.integers(min_value=0, max_value=40),
        "ai": st.sampled_from([True, False, None]),
        "commit": st.sampled_from([None, "c1", "c2"]),
        "settle": st.sampled_from([None, "voided", "superseded"]),
    }
)
FEB_10 = datetime(2026, 2, 10, tzinfo=UTC)
APR_20 = datetime(2026, 4, 20, tzinfo=UTC)
QUERIES = [
    ReportQuery(start=MARCH.start, stop=MARCH.stop, group_by=g, basis=b)
    for g in [(), ("team",), ("person", "week"), ("domain", "month"), ("definition",), ("model",)]
    for b in ("triggered", "completed")
] + [
    replace(MARCH, team="payments"),
    replace(MARCH, start=datetime(2026, 3, 10, tzinfo=UTC), group_by=("team", "person")),
    replace(MARCH, person=1, group_by=("month",)),
    # Whole months, so the monthly rollups answer these too.
    replace(MARCH, stop=datetime(2026, 6, 1, tzinfo=UTC), group_by=("team", "month")),
    replace(
        MARCH,
        stop=datetime(2026, 6, 1, tzinfo=UTC),
        group_by=("definition", "month"),
        basis="completed",
    ),
    replace(MARCH, start=None, stop=None, group_by=("domain",)),
    replace(MARCH, model="m1", group_by=("team",)),
    replace(MARCH, provider="anthropic", source="gateway", group_by=("model",)),
    replace(MARCH, ai="assisted", definition="shipped", group_by=("team",)),
    replace(MARCH, ai="not", group_by=("month",)),
    replace(MARCH, domain="engineering", group_by=("team", "month")),
    # Not whole months: March from the monthly rollups, the edges from the daily ones.
    *(
        replace(MARCH, start=FEB_10, stop=APR_20, group_by=g, basis=b)
        for g in [(), ("team",), ("model",), ("domain", "month"), ("definition",)]
        for b in ("triggered", "completed")
    ),
    # Weeks: the whole weeks from the weekly rollups, the edges from the daily ones.
    *(
        replace(MARCH, start=start, stop=APR_20, group_by=g, basis=b, team=team)
        for start, g, team in [
            (FEB_10, ("week",), "payments"),
            (MARCH.start, ("team", "week"), None),
            (FEB_10, ("model", "week"), None),
            (MARCH.start, ("definition", "week"), None),
        ]
        for b in ("triggered", "completed")
    ),
    replace(MARCH, start=None, stop=APR_20, group_by=("team",)),
    replace(MARCH, start=FEB_10, stop=None, group_by=("month",)),
    replace(MARCH, start=FEB_10, stop=APR_20, team="payments", ai="assisted"),
    replace(MARCH, start=datetime(2026, 3, 5, tzinfo=UTC), group_by=("team",)),  # no whole month
    # By person: the person monthly rollups, with the edge days from the daily ones.
    replace(MARCH, group_by=("person",)),
    replace(MARCH, stop=datetime(2026, 6, 1, tzinfo=UTC), group_by=("person", "month")),
    replace(MARCH, group_by=("team", "person"), basis="completed"),
    replace(MARCH, person=2, group_by=("definition",)),
    *(
        replace(MARCH, start=FEB_10, stop=APR_20, group_by=g, basis=b)
        for g in [("person",), ("person", "model"), ("person", "month")]
        for b in ("triggered", "completed")
    ),
    replace(MARCH, start=FEB_10, stop=APR_20, person=1, ai="not"),
]


def _when(plan: dict[str, object]) -> datetime:
    month = int(plan["month"])  # type: ignore[call-overload]
    last = {2: 28, 4: 30}.get(month, 31)
    return build.at(min(int(plan["day"]), last), month=month)  # type: ignore[call-overload]


def _load(usages: list[dict[str, object]], units: list[dict[str, object]]) -> list[object]:
    made = []
    for u in usages:
        build.usage(
            actor=u["actor"],  # type: ignore[arg-type]
            cost=None if u["model"] == "unlisted" else u["cost"],  # type: ignore[arg-type]
            occurred_at=_when(u),
            model=u["model"],  # type: ignore[arg-type]
            team_slug=u["team"],  # type: ignore[arg-type]
            refs={"session": [u["session"]]} if u["session"] else None,  # type: ignore[list-item]
            attributes={"derived_from": u["derived"]} if u["derived"] else None,
        )
    people = {p.name: p for p in Person.objects.all()}
    for u in units:
        owner = people.get(u["owner"]) if u["owner"] else None  # type: ignore[call-overload]
        triggered = _when(u)
        completed = triggered + timedelta(days=u["late"])  # type: ignore[arg-type]
        made.append(
            build.unit(
                build.definition(
                    u["definition"], "engineering" if u["definition"] == "shipped" else "legal"
                ),  # type: ignore[arg-type]
                owner=owner,
                team_=build.team("payments") if owner else None,
                state=u["state"],  # type: ignore[arg-type]
                units=u["units"],  # type: ignore[arg-type]
                triggered_at=triggered,
                completed_at=completed,
                ai_assisted=u["ai"],  # type: ignore[arg-type]
                refs={"commit": [u["commit"]]} if u["commit"] else None,  # type: ignore[list-item]
            )
        )
    return made


def _settle(units: list[object], plans: list[dict[str, object]]) -> None:
    for w, plan in zip(units, plans, strict=True):
        if plan["settle"] == "voided" and w.state == "completed":  # type: ignore[attr-defined]
            w.state = "voided"  # type: ignore[attr-defined]
            w.save(update_fields=["state"])  # type: ignore[attr-defined]
            build.entry(
                w,  # type: ignore[arg-type]
                -Decimal(str(w.units)),  # type: ignore[attr-defined]
                effective_at=w.triggered_at + timedelta(days=3),  # type: ignore[attr-defined]
                created_at=w.triggered_at + timedelta(days=3),  # type: ignore[attr-defined]
                state="voided",
            )
        elif plan["settle"] == "superseded":
            w.superseded_at = build.at(28)  # type: ignore[attr-defined]
            w.save(update_fields=["superseded_at"])  # type: ignore[attr-defined]


def _change(name: str) -> None:
    """One change to who usage belongs to, to its cost or to what it is tied to."""
    people = {p.name: p for p in Person.objects.all()}
    if name == "map-ghost-to-ann":
        Identity.objects.get_or_create(value="ghost", defaults={"person": people["ann"]})
    elif name == "repoint-ben-to-ann":
        directory.identity_map(value="ben@example.com", person=people["ann"])
    elif name == "unmap-ann":
        directory.identity_unmap(value="ann@example.com")
    elif name == "ben-joins-ops-mid-march":
        Membership.objects.create(
            person=people["ben"], team=build.team("ops"), valid_from=build.at(15)
        )
    elif name == "ann-moves-to-ops":
        for m in Membership.objects.filter(person=people["ann"]):
            directory.revise(m, team=build.team("ops"))
    elif name == "ann-leaves":
        for m in Membership.objects.filter(person=people["ann"]):
            directory.retract(m)
    elif name == "reprice-the-first-record":
        first = TokenUsage.objects.order_by("id").first()
        if first is not None:
            CostAdjustment.objects.create(
                usage_id=first.id, delta_usd=Decimal("0.25"), reason="reprice"
            )
    elif name == "session-s2-commits-c2":
        build.event("x.session.commit", refs={"session": ["s2"], "commit": ["c2"]})


change_strategy = st.sampled_from(
    [
        "map-ghost-to-ann",
        "repoint-ben-to-ann",
        "unmap-ann",
        "ben-joins-ops-mid-march",
        "ann-moves-to-ops",
        "ann-leaves",
        "reprice-the-first-record",
        "session-s2-commits-c2",
    ]
)


class _Rollback(Exception):
    pass


def _assert_unknown_cost_is_null(rows: list[dict[str, object]]) -> None:
    """A row whose usage is all unpriced has no cost and no ratio over it."""
    for row in rows:
        counts = row["denominators"]
        if counts["usage_records"] and counts["unpriced_records"] == counts["usage_records"]:  # type: ignore[index]
            assert (row["token_cost_usd"], row["awus_per_dollar"], row["cost_per_awu"]) == (
                None,
                None,
                None,
            ), row


# Far past every row's time: the report from the raw tables as they are now.
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(usage_strategy, max_size=12),
    second=st.lists(usage_strategy, max_size=12),
    third=st.lists(usage_strategy, max_size=8),
    units=st.lists(unit_strategy, max_size=10),
    early=st.lists(change_strategy, max_size=3),
    late=st.lists(change_strategy, max_size=3),
)
def test_reports_from_rollups_equal_reports_from_raw_tables(
    first: list[dict[str, object]],
    second: list[dict[str, object]],
    third: list[dict[str, object]],
    units: list[dict[str, object]],
    early: list[str],
    late: list[str],
) -> None:
    try:
        with transaction.atomic():
            build.person("ann", team_slug="payments", actor="ann@example.com")
            build.person("ben", team_slug="search", actor="ben@example.com")
            build.team("ops", domain="operations")
            build.event("x.session.commit", refs={"session": ["s1"], "commit": ["c1"]})
            _load(first, [])
            rollups_refresh()
            made = _load(second, units)
            for name in early:
                _change(name)
            rollups_refresh()
            _settle(made, units)
            _load(third, [])  # new usage alongside settled units: sums added or days recomputed
            for name in late:
                _change(name)
            rollups_refresh()
            for query in QUERIES:
                naive = efficiency_report_naive(query=query)
                _assert_unknown_cost_is_null(naive)
                assert from_rollups(query, periods=False) == naive, ("daily", query)
                if periods_apply(query, query.group_by):
                    assert from_rollups(query, periods=True) == naive, ("monthly", query)
            for by_team in (False, True):
                for period in (MARCH, replace(MARCH, start=FEB_10, stop=APR_20)):
                    assert spend_deciles(query=period, by_team=by_team) == spend_deciles(
                        query=replace(period, as_of=LATER), by_team=by_team
                    ), ("deciles", by_team, period)
            raise _Rollback
    except _Rollback:
        pass


@pytest.mark.django_db(transaction=True)
def test_the_refresh_command_says_what_it_did() -> None:
    out = StringIO()
    call_command("refresh_rollups", stdout=out)
    assert out.getvalue().startswith("rebuilt every rollup from the raw tables in ")
    build.usage(cost="1.00")

    out = StringIO()
    call_command("refresh_rollups", stdout=out)
    assert out.getvalue().startswith("added 1 usage records; recomputed 0 usage days")
    out = StringIO()
    call_command("refresh_rollups", "--full", stdout=out)
    assert out.getvalue().startswith("rebuilt every rollup")
    [row] = from_rollups(MARCH)
    assert row["token_cost_usd"] == "1.000000000"


@pytest.mark.django_db(transaction=True)
def test_two_beats_refreshing_at_once_add_each_record_once() -> None:
    build.person("ann", team_slug="payments", actor="ann@example.com")
    build.usage(actor="ann@example.com", cost="1.00")
    rollups_refresh()
    for day in range(2, 12):
        build.usage(actor="ann@example.com", cost="0.25", occurred_at=build.at(day))
    barrier = threading.Barrier(2)

    def beat() -> None:
        try:
            barrier.wait()
            rollups_refresh()
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    rollups_refresh()  # whatever one beat skipped (the other held the lock)

    for query in [MARCH, replace(MARCH, group_by=("team",))]:
        assert from_rollups(query, periods=False) == efficiency_report_naive(query=query)
