"""POST /api/v1/token-usage: reported, computed and unpriced costs, buckets, money as text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledger.models import ModelPrice, TokenUsage
from ledger.pricing.book import forget_cached_book, install_published_prices
from tests.ledger.factories import usage, without

pytestmark = pytest.mark.django_db

URL = "/api/v1/token-usage"
PRICE_CHANGE = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def published_prices(db: None) -> None:
    install_published_prices()


@pytest.fixture
def price_change(db: None) -> tuple[ModelPrice, ModelPrice]:
    """A model whose input price doubles at PRICE_CHANGE ($1/M, then $2/M)."""
    common = {"provider": "acme", "model": "widget-1", "match": "", "output": Decimal(0)}
    old = ModelPrice.objects.create(
        **common,
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        effective_to=PRICE_CHANGE,
        input=Decimal(1),
    )
    new = ModelPrice.objects.create(**common, effective_from=PRICE_CHANGE, input=Decimal(2))
    forget_cached_book()
    return old, new


def stored(response: Any, index: int = 0) -> TokenUsage:
    return TokenUsage.objects.get(pk=response.json()["results"][index]["id"])


def test_single_usage_record_is_created_with_201(usage_writer: Any) -> None:
    response = usage_writer.post(URL, usage())

    assert response.status_code == 201
    assert response.json()["results"][0]["status"] == "created"


def test_same_usage_record_again_is_a_duplicate(usage_writer: Any) -> None:
    body = usage()
    usage_writer.post(URL, body)

    again = usage_writer.post(URL, body)

    assert again.status_code == 200
    assert again.json()["results"][0]["status"] == "duplicate"
    assert TokenUsage.objects.count() == 1


def test_same_usage_key_with_other_tokens_is_a_409(usage_writer: Any) -> None:
    body = usage()
    usage_writer.post(URL, body)

    response = usage_writer.post(URL, {**body, "output_tokens": 1})

    assert response.status_code == 409
    assert response.json()["type"] == "conflict"


def test_reported_cost_wins_over_the_price_book(usage_writer: Any, published_prices: None) -> None:
    response = usage_writer.post(URL, usage(cost_usd="0.0123"))

    record = stored(response)
    assert record.cost_source == "reported"
    assert record.cost_usd == Decimal("0.0123")
    assert record.price_id is None


def test_reported_cost_may_be_an_integer(usage_writer: Any) -> None:
    response = usage_writer.post(URL, usage(cost_usd=2))

    assert stored(response).cost_usd == Decimal(2)


def test_reported_zero_cost_is_kept_as_reported(usage_writer: Any) -> None:
    response = usage_writer.post(URL, usage(model="free-model", cost_usd="0"))

    record = stored(response)
    assert (record.cost_source, record.cost_usd) == ("reported", Decimal(0))


def test_known_model_without_cost_is_priced_from_the_book(
    usage_writer: Any, published_prices: None
) -> None:
    # claude-opus-4-5: $5/M input, $25/M output, $0.50/M cache reads.
    body = usage(
        model="claude-opus-4-5",
        input_tokens=12000,
        output_tokens=1800,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=40000,
    )

    record = stored(usage_writer.post(URL, body))

    assert record.cost_source == "computed"
    assert record.cost_usd == Decimal("0.125000000")


def test_computed_cost_records_the_price_entry_used(
    usage_writer: Any, published_prices: None
) -> None:
    record = stored(usage_writer.post(URL, usage(model="claude-opus-4-5")))

    assert record.price is not None
    assert (record.price.provider, record.price.model) == ("anthropic", "claude-opus-4-5")


def test_computed_cost_prices_cache_writes_by_lifetime(
    usage_writer: Any, published_prices: None
) -> None:
    # claude-haiku-4-5: 5 minute writes $1.25/M, 1 hour writes $2/M.
    body = usage(
        model="claude-haiku-4-5",
        input_tokens=0,
        output_tokens=0,
        cache_read_input_tokens=0,
        cache_creation_input_tokens=3_000_000,
        cache_creation_1h_input_tokens=1_000_000,
    )

    record = stored(usage_writer.post(URL, body))

    assert record.cost_usd == Decimal("2.5") + Decimal("2")


def test_cost_is_exact_to_nine_decimal_places(usage_writer: Any, published_prices: None) -> None:
    # One output token of claude-haiku-4-5 at $5/M.
    body = usage(
        model="claude-haiku-4-5",
        input_tokens=0,
        output_tokens=1,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=0,
    )

    assert stored(usage_writer.post(URL, body)).cost_usd == Decimal("0.000005000")


def test_usage_just_before_a_price_change_uses_the_old_price(
    usage_writer: Any, price_change: tuple[ModelPrice, ModelPrice]
) -> None:
    body = usage(
        provider="acme",
        model="widget-1",
        occurred_at="2026-05-31T23:59:59Z",
        input_tokens=1_000_000,
        output_tokens=0,
        cache_read_input_tokens=0,
    )

    record = stored(usage_writer.post(URL, body))

    assert (record.cost_usd, record.price_id) == (Decimal(1), price_change[0].pk)


def test_usage_at_the_price_change_uses_the_new_price(
    usage_writer: Any, price_change: tuple[ModelPrice, ModelPrice]
) -> None:
    body = usage(
        provider="acme",
        model="widget-1",
        occurred_at="2026-06-01T00:00:00Z",
        input_tokens=1_000_000,
        output_tokens=0,
        cache_read_input_tokens=0,
    )

    record = stored(usage_writer.post(URL, body))

    assert (record.cost_usd, record.price_id) == (Decimal(2), price_change[1].pk)


def test_a_later_price_change_does_not_rewrite_stored_costs(
    usage_writer: Any, price_change: tuple[ModelPrice, ModelPrice]
) -> None:
    body = usage(provider="acme", model="widget-1", occurred_at="2026-07-01T00:00:00Z")
    before = stored(usage_writer.post(URL, body)).cost_usd

    ModelPrice.objects.create(
        provider="acme",
        model="widget-1",
        match="widget-1",
        effective_from=datetime(2026, 6, 15, tzinfo=UTC),
        input=Decimal(100),
        output=Decimal(0),
    )
    forget_cached_book()

    assert TokenUsage.objects.get().cost_usd == before


def test_dated_model_id_matches_the_entry_glob(usage_writer: Any, published_prices: None) -> None:
    record = stored(usage_writer.post(URL, usage(model="claude-opus-4-5-20251101")))

    assert record.cost_source == "computed"
    assert record.price is not None
    assert record.price.model == "claude-opus-4-5"


def test_model_id_is_stored_as_sent(usage_writer: Any, published_prices: None) -> None:
    record = stored(usage_writer.post(URL, usage(model="claude-opus-4-5-20251101")))

    assert record.model == "claude-opus-4-5-20251101"


def test_unknown_model_without_cost_is_stored_unpriced(
    usage_writer: Any, published_prices: None
) -> None:
    response = usage_writer.post(URL, usage(model="mystery-9000"))

    assert response.status_code == 201
    record = stored(response)
    assert (record.cost_source, record.cost_usd, record.price_id) == ("unpriced", None, None)


def test_known_model_of_another_provider_is_unpriced(
    usage_writer: Any, published_prices: None
) -> None:
    record = stored(usage_writer.post(URL, usage(provider="openai", model="claude-opus-4-5")))

    assert record.cost_source == "unpriced"


def test_bucketed_usage_is_stored_with_its_period(usage_writer: Any) -> None:
    body = without(usage(), "occurred_at")
    body.update(period_start="2026-11-01T00:00:00Z", period_end="2026-11-02T00:00:00Z")

    response = usage_writer.post(URL, body)

    assert response.status_code == 201
    record = stored(response)
    assert record.occurred_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert record.period_end == datetime(2026, 11, 2, tzinfo=UTC)


def test_period_end_before_period_start_is_invalid(usage_writer: Any) -> None:
    body = without(usage(), "occurred_at")
    body.update(period_start="2026-11-02T00:00:00Z", period_end="2026-11-01T00:00:00Z")

    response = usage_writer.post(URL, body)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"


def test_period_start_without_period_end_is_invalid(usage_writer: Any) -> None:
    body = without(usage(), "occurred_at")
    body.update(period_start="2026-11-01T00:00:00Z")

    assert usage_writer.post(URL, body).status_code == 400


def test_occurred_at_and_a_period_together_are_invalid(usage_writer: Any) -> None:
    body = usage(period_start="2026-11-01T00:00:00Z", period_end="2026-11-02T00:00:00Z")

    assert usage_writer.post(URL, body).status_code == 400


def test_usage_without_any_time_is_invalid(usage_writer: Any) -> None:
    assert usage_writer.post(URL, without(usage(), "occurred_at")).status_code == 400


def test_period_start_beyond_the_future_skew_is_invalid(usage_writer: Any) -> None:
    body = without(usage(), "occurred_at")
    body.update(period_start="2026-12-01T00:00:00Z", period_end="2026-12-02T00:00:00Z")

    response = usage_writer.post(URL, body)

    assert response.status_code == 400
    assert "period_start" in response.json()["errors"]


def test_more_1h_cache_writes_than_cache_writes_is_invalid(usage_writer: Any) -> None:
    body = usage(cache_creation_input_tokens=10, cache_creation_1h_input_tokens=11)

    response = usage_writer.post(URL, body)

    assert response.status_code == 400
    assert TokenUsage.objects.count() == 0


def test_money_is_returned_as_decimal_strings(
    usage_writer: Any, reader: Any, published_prices: None
) -> None:
    usage_writer.post(URL, [usage(cost_usd="0.0123"), usage(model="claude-opus-4-5")])

    rows = reader.get(URL, {"order": "oldest"}).json()["results"]

    assert [r["cost_usd"] for r in rows] == ["0.012300000", "0.125000000"]
    assert all(isinstance(r["adjusted_cost_usd"], str) for r in rows)


def test_unpriced_cost_is_returned_as_null(usage_writer: Any, reader: Any) -> None:
    usage_writer.post(URL, usage(model="mystery-9000"))

    row = reader.get(URL).json()["results"][0]

    assert (row["cost_usd"], row["cost_source"]) == (None, "unpriced")


def test_listing_shows_the_cost_source_and_price(
    usage_writer: Any, reader: Any, published_prices: None
) -> None:
    usage_writer.post(URL, usage(model="claude-opus-4-5"))

    row = reader.get(URL).json()["results"][0]

    assert row["cost_source"] == "computed"
    assert (
        row["price_id"] == ModelPrice.objects.get(model="claude-opus-4-5", provider="anthropic").pk
    )
