"""The alert rules' decisions (awu.alerts.evaluate): examples and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from awu.alerts.evaluate import Week, efficiency_drop, spend_outlier, spend_pace

D = Decimal
money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False)
positive = st.decimals(min_value=D("0.01"), max_value=100000, places=2, allow_nan=False)
moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def test_spend_on_pace_to_exceed_the_budget_fires_with_the_projection() -> None:
    # 10 of 30 days of November gone, $400 spent: on pace for $1,200.
    verdict = spend_pace(spend=D(400), budget=D(1000), now=datetime(2026, 11, 11, tzinfo=UTC))
    assert verdict is not None
    assert verdict.projected == D("1200.00")


def test_spend_below_pace_does_not_fire() -> None:
    assert spend_pace(spend=D(300), budget=D(1000), now=datetime(2026, 11, 11, tzinfo=UTC)) is None


def test_the_first_hours_of_a_month_project_over_at_least_one_day() -> None:
    # $5 in the first minute would project to ~$200k over the month; over a day it is $150.
    now = datetime(2026, 11, 1, 0, 1, tzinfo=UTC)
    assert spend_pace(spend=D(5), budget=D(1000), now=now) is None


@given(spend=money, budget=positive, now=moments)
def test_spend_already_over_the_budget_always_fires(
    spend: Decimal, budget: Decimal, now: datetime
) -> None:
    if spend > budget:
        assert spend_pace(spend=spend, budget=budget, now=now) is not None


@given(spend=money, more=money, budget=positive, now=moments)
def test_more_spend_never_turns_an_alert_off(
    spend: Decimal, more: Decimal, budget: Decimal, now: datetime
) -> None:
    if spend_pace(spend=spend, budget=budget, now=now) is not None:
        assert spend_pace(spend=spend + more, budget=budget, now=now) is not None


def _weeks(rates: list[tuple[str, str]], settled: int | None = None) -> list[Week]:
    start = date(2026, 1, 5)
    n = len(rates) if settled is None else settled
    return [
        Week(start + timedelta(weeks=i), D(a), D(s), settled=i < n)
        for i, (a, s) in enumerate(rates)
    ]


def test_a_drop_of_more_than_the_threshold_on_settled_weeks_fires() -> None:
    weeks = _weeks([("10", "10")] * 2 + [("5", "10")] * 2)
    verdict = efficiency_drop(weeks=weeks, period_weeks=2, drop_pct=D(25))
    assert verdict is not None
    assert verdict.drop_pct == D("50.0")
    assert verdict.period_start == date(2026, 1, 19)


def test_a_drop_within_the_threshold_does_not_fire() -> None:
    weeks = _weeks([("10", "10")] * 2 + [("8", "10")] * 2)
    assert efficiency_drop(weeks=weeks, period_weeks=2, drop_pct=D(25)) is None


def test_weeks_still_maturing_are_not_read_as_a_drop() -> None:
    # The last two weeks show almost no AWUs because their units have not settled:
    # the comparison ends at the last settled week, where nothing fell.
    weeks = _weeks([("10", "10")] * 4 + [("0", "10")] * 2, settled=4)
    assert efficiency_drop(weeks=weeks, period_weeks=2, drop_pct=D(25)) is None


def test_not_enough_settled_history_does_not_fire() -> None:
    weeks = _weeks([("10", "10"), ("1", "10")])
    assert efficiency_drop(weeks=weeks, period_weeks=2, drop_pct=D(25)) is None


week_pairs = st.lists(st.tuples(money, positive), min_size=0, max_size=12)


@given(pairs=week_pairs, period=st.integers(1, 4), drop=st.integers(0, 99))
def test_a_drop_verdict_is_always_more_than_the_threshold(
    pairs: list[tuple[Decimal, Decimal]], period: int, drop: int
) -> None:
    weeks = [
        Week(date(2026, 1, 5) + timedelta(weeks=i), a, s, True) for i, (a, s) in enumerate(pairs)
    ]
    verdict = efficiency_drop(weeks=weeks, period_weeks=period, drop_pct=D(drop))
    if verdict is not None:
        assert verdict.current < verdict.previous
        assert verdict.drop_pct >= D(drop)


@given(pairs=week_pairs, period=st.integers(1, 4))
def test_a_period_that_rose_never_fires(pairs: list[tuple[Decimal, Decimal]], period: int) -> None:
    # The same weeks in the later period as in the earlier: no drop at all.
    head = pairs[:period]
    if len(head) < period:
        return
    weeks = [
        Week(date(2026, 1, 5) + timedelta(weeks=i), a, s, True)
        for i, (a, s) in enumerate(head + head)
    ]
    assert efficiency_drop(weeks=weeks, period_weeks=period, drop_pct=D(0)) is None


def test_a_day_far_above_the_trailing_median_is_an_outlier() -> None:
    history = [D(10), D(12), D(9), D(11)] * 5
    verdict = spend_outlier(history=history, spend=D(200), k=D(5), floor=D(50), min_days=14)
    assert verdict is not None
    assert verdict.median == D("10.5")


def test_a_steady_subject_needs_the_dollar_floor_above_its_median() -> None:
    history = [D(10)] * 20  # MAD 0: only the floor stands between the median and an alert
    assert spend_outlier(history=history, spend=D(59), k=D(5), floor=D(50), min_days=14) is None
    assert spend_outlier(history=history, spend=D(61), k=D(5), floor=D(50), min_days=14)


def test_too_little_history_never_fires() -> None:
    history = [D(1)] * 13
    assert spend_outlier(history=history, spend=D(10000), k=D(5), floor=D(50), min_days=14) is None


@given(
    history=st.lists(money, min_size=14, max_size=40),
    spend=money,
    k=st.decimals(min_value=0, max_value=10, places=1),
    floor=money,
)
def test_an_outlier_is_always_above_median_plus_floor(
    history: list[Decimal], spend: Decimal, k: Decimal, floor: Decimal
) -> None:
    verdict = spend_outlier(history=history, spend=spend, k=k, floor=floor, min_days=14)
    if verdict is not None:
        assert spend > verdict.median + floor
        assert spend > verdict.median + k * verdict.mad


@given(history=st.lists(money, min_size=14, max_size=40), k=st.decimals(0, 10, places=1))
def test_a_day_at_or_below_the_median_is_never_an_outlier(
    history: list[Decimal], k: Decimal
) -> None:
    import statistics

    median = Decimal(statistics.median(history))
    assert spend_outlier(history=history, spend=median, k=k, floor=D(0), min_days=14) is None
