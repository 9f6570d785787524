"""manage.py reprice: stored costs stay, corrections are appended as adjustments."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ledger import ingest
from ledger.models import CostAdjustment, ModelPrice, TokenUsage
from ledger.pricing.book import forget_cached_book
from ledger.pricing.reprice import RepriceError, RepriceReport, usage_reprice
from tests.conftest import Api
from tests.ledger.factories import usage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OCTOBER = {"start": datetime(2026, 10, 1, tzinfo=UTC), "stop": datetime(2026, 11, 1, tzinfo=UTC)}
CORRECTION = datetime(2026, 10, 15, tzinfo=UTC)
ROOT = Path(__file__).parents[2]


def sonnet_price(input_rate: str, *, start: datetime, **long_context: Any) -> ModelPrice:
    row = ModelPrice.objects.create(
        provider="anthropic",
        model="claude-sonnet-4-5",
        match="claude-sonnet-4-5-20*",
        effective_from=start,
        input=Decimal(input_rate),
        output=Decimal("15"),
        **long_context,
    )
    forget_cached_book()
    return row


def stored_usage(day: int, **overrides: Any) -> TokenUsage:
    """One record of 1,000 input tokens (and nothing else) on an October day, at noon."""
    fields: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "occurred_at": f"2026-10-{day:02d}T12:00:00Z",
        "input_tokens": 1000,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    record = usage(**{**fields, **overrides})
    [result] = ingest.usage_ingest(items=[record], now=NOW)
    assert result.status == "created", result
    return TokenUsage.objects.get(pk=result.id)


def reprice(*, apply: bool, model: str = "claude-sonnet-4-5", **kwargs: Any) -> RepriceReport:
    return usage_reprice(
        provider="anthropic", model=model, apply=apply, now=NOW, **{**OCTOBER, **kwargs}
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command("reprice", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def corrected() -> tuple[TokenUsage, TokenUsage]:
    """Two records priced at $3/M input; then the price is found to have been $4/M
    from Oct 15 on (the old entry ends there, a new one starts)."""
    old = sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))
    before, after = stored_usage(10), stored_usage(20)
    old.effective_to = CORRECTION
    old.save()
    sonnet_price("4", start=CORRECTION)
    return before, after


def test_dry_run_lists_the_changed_record_and_writes_nothing(
    corrected: tuple[TokenUsage, TokenUsage],
) -> None:
    _, after = corrected

    report = reprice(apply=False)

    [line] = report.lines
    assert (line.usage_id, line.stored_cost, line.new_cost, line.difference) == (
        after.pk,
        Decimal("0.003"),
        Decimal("0.004"),
        Decimal("0.001"),
    )
    assert (report.examined, report.changed, report.unchanged) == (2, 1, 1)
    assert CostAdjustment.objects.count() == 0


def test_apply_appends_the_difference_with_the_price_used_and_why(
    corrected: tuple[TokenUsage, TokenUsage],
) -> None:
    _, after = corrected
    new_price = ModelPrice.objects.get(effective_from=CORRECTION)

    report = reprice(apply=True)

    [adjustment] = CostAdjustment.objects.all()
    assert (adjustment.usage_id, adjustment.delta_usd, adjustment.price_id) == (
        after.pk,
        Decimal("0.001"),
        new_price.pk,
    )
    assert "was 0.003" in adjustment.reason
    assert report.adjustments_created == 1
    after.refresh_from_db()  # the record stays as stored
    assert (after.cost_usd, after.price.input) == (Decimal("0.003"), Decimal("3"))


def test_apply_moves_the_efficiency_report_by_exactly_the_differences(
    corrected: tuple[TokenUsage, TokenUsage], api: Any
) -> None:
    reader: Api = api("reports:read")

    def october_cost() -> Decimal:
        response = reader.get(
            "/api/v1/reports/efficiency", {"from": "2026-10-01", "to": "2026-10-31"}
        )
        assert response.status_code == 200, response.content
        [row] = response.json()["results"]
        return Decimal(row["token_cost_usd"])

    cost_before = october_cost()
    report = reprice(apply=True)

    assert report.total_difference == Decimal("0.001")
    assert october_cost() - cost_before == report.total_difference


def test_a_second_apply_appends_nothing(corrected: tuple[TokenUsage, TokenUsage]) -> None:
    reprice(apply=True)

    again = reprice(apply=True)

    assert (again.changed, again.unchanged, again.adjustments_created) == (0, 2, 0)
    assert CostAdjustment.objects.count() == 1


def test_a_reported_cost_is_never_repriced_and_the_output_says_so(
    corrected: tuple[TokenUsage, TokenUsage],
) -> None:
    reported = stored_usage(21, cost_usd="0.5")

    output = run(
        "--provider", "anthropic", "--model", "claude-sonnet-4-5",
        "--from", "2026-10-01", "--to", "2026-10-31", "--apply",
    )  # fmt: skip

    assert not CostAdjustment.objects.filter(usage_id=reported.id).exists()
    assert "reported cost: 1 left as reported (reported beats computed" in output
    assert "Appended 1 cost adjustments." in output


def test_an_unpriced_record_gets_its_whole_new_cost_and_the_report_counts_it() -> None:
    unpriced = stored_usage(20)
    assert unpriced.cost_source == "unpriced"
    price = sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))

    report = reprice(apply=True)

    [line] = report.lines
    assert (line.stored_cost, line.current_cost, line.difference) == (
        None,
        None,
        Decimal("0.003"),
    )
    [adjustment] = CostAdjustment.objects.filter(usage_id=unpriced.id)
    assert (adjustment.delta_usd, adjustment.price_id) == (Decimal("0.003"), price.pk)
    assert "was unpriced" in adjustment.reason
    assert reprice(apply=True).adjustments_created == 0


def test_a_repriced_record_no_longer_counts_as_unpriced_in_the_report(api: Any) -> None:
    stored_usage(20)
    reader: Api = api("reports:read")

    def october() -> dict[str, Any]:
        response = reader.get(
            "/api/v1/reports/efficiency", {"from": "2026-10-01", "to": "2026-10-31"}
        )
        assert response.status_code == 200, response.content
        [row] = response.json()["results"]
        return dict(row)

    assert october()["denominators"]["unpriced_records"] == 1
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))
    reprice(apply=True)

    row = october()
    assert (row["denominators"]["unpriced_records"], Decimal(row["token_cost_usd"])) == (
        0,
        Decimal("0.003"),
    )


def test_a_record_that_still_has_no_price_is_left_and_counted() -> None:
    sonnet_price("3", start=CORRECTION)
    stored_usage(10)  # before the only entry starts

    report = reprice(apply=True)

    assert (report.unpriceable, report.changed) == (1, 0)
    assert CostAdjustment.objects.count() == 0


def test_dated_snapshots_and_vendor_names_of_the_model_are_repriced_too() -> None:
    names = [
        "claude-sonnet-4-5-20250929",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4.5",
    ]
    unpriced = [stored_usage(20, model=name) for name in names]
    other = stored_usage(20, model="claude-opus-4-5")
    reported = [stored_usage(20, model=name, cost_usd="0.001") for name in names]
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))

    report = reprice(apply=False)

    assert {line.usage_id for line in report.lines} == {u.pk for u in unpriced}
    assert other.pk not in {line.usage_id for line in report.lines}
    assert report.reported == len(reported)


def test_a_usage_report_bucket_is_repriced_at_base_rates_like_at_ingest() -> None:
    bucket = stored_usage(
        20,
        occurred_at=None,
        period_start="2026-10-20T00:00:00Z",
        period_end="2026-10-21T00:00:00Z",
        input_tokens=300_000,
    )
    sonnet_price(
        "3",
        start=datetime(2025, 1, 1, tzinfo=UTC),
        long_context_threshold=200_000,
        input_long=Decimal("6"),
        output_long=Decimal("22.5"),
    )

    [line] = reprice(apply=False).lines

    assert (line.usage_id, line.new_cost) == (bucket.pk, Decimal("0.9"))


def test_records_outside_the_period_are_not_touched(
    corrected: tuple[TokenUsage, TokenUsage],
) -> None:
    stored_usage(20)
    report = reprice(apply=False, start=datetime(2026, 10, 1, tzinfo=UTC), stop=CORRECTION)

    assert (report.examined, report.changed) == (1, 0)


def test_the_to_date_covers_its_whole_day_and_no_more() -> None:
    def unpriced_at(when: str) -> int:
        record = usage(model="claude-sonnet-4-5", occurred_at=when, cost_usd=None)
        [result] = ingest.usage_ingest(items=[record], now=NOW)
        assert result.id is not None
        return result.id

    last_second, next_day = unpriced_at("2026-10-31T23:59:59Z"), unpriced_at("2026-11-01T00:00:00Z")
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))

    output = run(
        "--provider", "anthropic", "--model", "claude-sonnet-4-5",
        "--from", "2026-10-01", "--to", "2026-10-31",
    )  # fmt: skip

    assert f"usage {last_second} " in output
    assert f"usage {next_day} " not in output
    assert "Dry run: nothing was written." in output


def test_batches_cover_records_sharing_one_instant_exactly_once() -> None:
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))
    same_instant = [stored_usage(20) for _ in range(5)]
    seen: list[tuple[int, int]] = []

    report = reprice(
        apply=True, batch_size=2, progress=lambda done, total: seen.append((done, total))
    )

    assert report.examined == len(same_instant)
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert CostAdjustment.objects.count() == 0  # priced at ingest with this very price


def test_batches_append_one_adjustment_per_record() -> None:
    records = [stored_usage(20) for _ in range(5)]  # unpriced: no entry yet
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))

    report = reprice(apply=True, batch_size=2)

    assert report.adjustments_created == len(records)
    assert sorted(CostAdjustment.objects.values_list("usage_id", flat=True)) == sorted(
        u.pk for u in records
    )


def test_a_model_the_price_book_does_not_know_is_a_clear_error() -> None:
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))

    with pytest.raises(CommandError, match="no price book entry for anthropic/claude-nope-9"):
        run("--provider", "anthropic", "--model", "claude-nope-9", "--from", "2026-10-01",
            "--to", "2026-10-31")  # fmt: skip


def test_an_empty_period_is_refused() -> None:
    sonnet_price("3", start=datetime(2025, 1, 1, tzinfo=UTC))

    with pytest.raises(RepriceError, match="empty"):
        reprice(apply=False, start=CORRECTION, stop=CORRECTION)


@pytest.mark.parametrize(
    ("start", "stop", "message"),
    [
        ("2026-13-01", "2026-10-31", "--from: give a date"),
        ("2026-10-01", "2026-10-01T00:00:00", "--to: a timestamp needs a UTC offset"),
        ("2026-10-31", "2026-10-01", "--to: must be after from"),
    ],
)
def test_bad_dates_are_a_one_line_error(start: str, stop: str, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        run("--provider", "anthropic", "--model", "claude-sonnet-4-5", "--from", start,
            "--to", stop)  # fmt: skip

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_bad_date_exits_non_zero_from_the_shell() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "reprice", "--provider", "anthropic", "--model",
         "claude-sonnet-4-5", "--from", "yesterday", "--to", "2026-10-31"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=os.environ.copy(),
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: --from: give a date (YYYY-MM-DD) or an RFC 3339 timestamp"
    ]


def test_the_admin_hint_after_correcting_a_price_is_a_reprice_command_that_runs(
    admin_client: Any,
) -> None:
    row = sonnet_price("3", start=datetime(2026, 10, 1, tzinfo=UTC))
    stored = stored_usage(20)

    response = admin_client.post(
        reverse("admin:ledger_modelprice_correct", args=[row.pk]),
        {"effective_from": "2026-10-15T00:00:00Z", "reason": "raised Oct 15", "input": "4",
         "output": "15"},
        follow=True,
    )  # fmt: skip

    [hint] = [str(m) for m in response.context["messages"] if "manage.py reprice" in str(m)]
    command = hint.split("python manage.py reprice ", 1)[1].split(" (dry run)", 1)[0]
    output = run(*shlex.split(command), "--apply")
    assert f"usage {stored.pk} " in output
    assert "Appended 1 cost adjustments." in output


def test_usage_unpriced_until_a_litellm_import_is_priced_by_reprice() -> None:
    record = stored_usage(20, model="claude-haiku-4-5", input_tokens=1_000_000)
    fixture = ROOT / "tests" / "fixtures" / "litellm" / "model_prices_excerpt.json"
    call_command(
        "import_prices", "--litellm", str(fixture), "--effective-from", "2026-01-01",
        "--provider", "anthropic", stdout=StringIO(),
    )  # fmt: skip

    output = run(
        "--provider", "anthropic", "--model", "claude-haiku-4-5",
        "--from", "2026-10-01", "--to", "2026-10-31", "--apply",
    )  # fmt: skip

    [adjustment] = CostAdjustment.objects.filter(usage_id=record.id)
    assert adjustment.delta_usd == Decimal("1")  # $1 per million input tokens
    assert f"usage {record.pk} " in output
