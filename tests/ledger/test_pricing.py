"""Pure pricing: effective-dated lookup, matching, and exact cost arithmetic."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from ledger.pricing.cost import MissingRateError, PriceEntry, compute_cost, find_price
from ledger.pricing.files import (
    DEFAULT_PRICEBOOK_PATH,
    load_pricebook,
    price_entry_from_dict,
    price_entry_to_dict,
)
from ledger.pricing.names import normalize_model

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def entry(**overrides: Any) -> PriceEntry:
    """A Sonnet-4.5-shaped entry (list prices $3 / $15, 5m $3.75, 1h $6, read $0.30)."""
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "match": "claude-sonnet-4-5-20*",
        "effective_from": T0,
        "input": Decimal("3"),
        "output": Decimal("15"),
        "cache_write_5m": Decimal("3.75"),
        "cache_write_1h": Decimal("6"),
        "cache_read": Decimal("0.30"),
    }
    fields.update(overrides)
    return PriceEntry(**fields)


def long_entry(**overrides: Any) -> PriceEntry:
    fields: dict[str, Any] = {
        "long_context_threshold": 200_000,
        "input_long": Decimal("6"),
        "output_long": Decimal("22.50"),
        "cache_write_5m_long": Decimal("7.50"),
        "cache_write_1h_long": Decimal("12"),
        "cache_read_long": Decimal("0.60"),
    }
    fields.update(overrides)
    return entry(**fields)


# --- exact arithmetic -------------------------------------------------------


def test_one_input_token_of_a_three_dollar_model_costs_exactly_three_millionths() -> None:
    assert compute_cost(entry(), input_tokens=1, output_tokens=0) == Decimal("0.000003")


def test_cost_is_quantized_to_nine_decimal_places() -> None:
    cost = compute_cost(entry(), input_tokens=1, output_tokens=0)
    assert cost.as_tuple().exponent == -9


def test_every_token_kind_is_billed_at_its_own_rate() -> None:
    cost = compute_cost(
        entry(),
        input_tokens=12_000,
        output_tokens=1_800,
        cache_write_5m_tokens=1_000,
        cache_write_1h_tokens=2_000,
        cache_read_tokens=40_000,
    )
    # 12000*3 + 1800*15 + 1000*3.75 + 2000*6 + 40000*0.30 = 90750 per million
    assert cost == Decimal("0.090750000")


def test_five_minute_and_one_hour_cache_writes_are_priced_differently() -> None:
    five = compute_cost(entry(), input_tokens=0, output_tokens=0, cache_write_5m_tokens=1_000_000)
    hour = compute_cost(entry(), input_tokens=0, output_tokens=0, cache_write_1h_tokens=1_000_000)
    assert (five, hour) == (Decimal("3.75"), Decimal("6"))


def test_rounding_is_half_even_at_the_ninth_place() -> None:
    tiny = entry(input=Decimal("0.0005"))  # 5e-10 USD per token
    assert compute_cost(tiny, input_tokens=1, output_tokens=0) == Decimal("0")
    assert compute_cost(tiny, input_tokens=3, output_tokens=0) == Decimal("0.000000002")


def test_a_billion_tokens_keep_every_digit() -> None:
    cost = compute_cost(
        entry(cache_read=Decimal("0.075")),
        input_tokens=0,
        output_tokens=0,
        cache_read_tokens=1_000_000_001,
    )
    assert cost == Decimal("75.000000075")


def test_negative_token_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        compute_cost(entry(), input_tokens=-1, output_tokens=0)


# --- token kinds without a rate ----------------------------------------------


def test_cache_writes_without_a_price_of_their_own_bill_as_input() -> None:
    openai_like = entry(cache_write_5m=None, cache_write_1h=None)
    cost = compute_cost(openai_like, input_tokens=0, output_tokens=0, cache_write_5m_tokens=10)
    assert cost == Decimal("0.000030")


def test_one_hour_writes_without_a_rate_are_refused_when_five_minute_writes_are_priced() -> None:
    with pytest.raises(MissingRateError, match="1h"):
        compute_cost(
            entry(cache_write_1h=None), input_tokens=0, output_tokens=0, cache_write_1h_tokens=10
        )


def test_a_missing_rate_does_not_matter_when_no_such_tokens_were_used() -> None:
    assert compute_cost(entry(cache_write_1h=None), input_tokens=10, output_tokens=0) == Decimal(
        "0.00003"
    )


# --- long-context tier --------------------------------------------------------


def test_prompt_at_the_threshold_is_billed_at_base_rates() -> None:
    cost = compute_cost(long_entry(), input_tokens=200_000, output_tokens=1_000)
    assert cost == Decimal("0.615")  # 200000*3 + 1000*15


def test_prompt_over_the_threshold_bills_every_token_at_long_rates() -> None:
    cost = compute_cost(long_entry(), input_tokens=200_001, output_tokens=1_000)
    assert cost == Decimal("1.222506")  # 200001*6 + 1000*22.50


def test_cached_tokens_count_towards_the_long_context_threshold() -> None:
    cost = compute_cost(
        long_entry(),
        input_tokens=1,
        output_tokens=0,
        cache_write_1h_tokens=100_000,
        cache_read_tokens=100_000,
    )
    assert cost == Decimal("1.260006")  # 1*6 + 100000*12 + 100000*0.60


def test_bucketed_usage_can_force_the_base_tier() -> None:
    cost = compute_cost(long_entry(), input_tokens=1_000_000, output_tokens=0, tier="base")
    assert cost == Decimal("3")


def test_long_request_missing_a_long_cache_rate_is_refused() -> None:
    partial = long_entry(cache_write_1h_long=None)
    with pytest.raises(MissingRateError, match="long-context"):
        compute_cost(partial, input_tokens=300_000, output_tokens=0, cache_write_1h_tokens=5)


def test_forcing_the_long_tier_on_an_untiered_entry_is_refused() -> None:
    with pytest.raises(MissingRateError):
        compute_cost(entry(), input_tokens=1, output_tokens=0, tier="long")


# --- lookup -----------------------------------------------------------------


def test_usage_one_second_before_a_price_change_uses_the_old_price() -> None:
    change = datetime(2026, 10, 7, tzinfo=UTC)
    old = entry(effective_to=change)
    new = entry(effective_from=change, cache_read=Decimal("0.15"))
    found = find_price(
        [old, new],
        provider="anthropic",
        model="claude-sonnet-4-5",
        at=change - timedelta(seconds=1),
    )
    assert found is old


def test_usage_at_the_instant_of_a_price_change_uses_the_new_price() -> None:
    change = datetime(2026, 10, 7, tzinfo=UTC)
    old = entry(effective_to=change)
    new = entry(effective_from=change, cache_read=Decimal("0.15"))
    found = find_price([old, new], provider="anthropic", model="claude-sonnet-4-5", at=change)
    assert found is new


def test_usage_before_the_first_price_is_unpriced() -> None:
    found = find_price(
        [entry()],
        provider="anthropic",
        model="claude-sonnet-4-5",
        at=T0 - timedelta(microseconds=1),
    )
    assert found is None


def test_dated_snapshot_id_matches_its_model_glob() -> None:
    found = find_price([entry()], provider="anthropic", model="claude-sonnet-4-5-20250929", at=NOW)
    assert found is not None


def test_exact_model_id_beats_a_matching_glob() -> None:
    family = entry(model="claude-sonnet", match="claude-sonnet-*")
    exact = entry()
    found = find_price([family, exact], provider="anthropic", model="claude-sonnet-4-5", at=NOW)
    assert found is exact


def test_the_glob_with_more_literal_characters_wins() -> None:
    broad = entry(model="claude-sonnet", match="claude-sonnet-*")
    narrow = entry(model="claude-sonnet-4-5", match="claude-sonnet-4-5-*")
    found = find_price(
        [broad, narrow], provider="anthropic", model="claude-sonnet-4-5-20250929", at=NOW
    )
    assert found is narrow


def test_lookup_does_not_depend_on_the_order_of_entries() -> None:
    a = entry(model="claude-sonnet-4-5", match="claude-sonnet-4-5-2*")
    b = entry(model="claude-sonnet-4", match="claude-sonnet-4-5-2*", input=Decimal("9"))
    forward = find_price([a, b], provider="anthropic", model="claude-sonnet-4-5-20250929", at=NOW)
    backward = find_price([b, a], provider="anthropic", model="claude-sonnet-4-5-20250929", at=NOW)
    assert forward is backward


def test_unknown_model_is_unpriced() -> None:
    assert find_price([entry()], provider="anthropic", model="claude-unknown-9", at=NOW) is None


def test_another_providers_price_is_not_used() -> None:
    assert find_price([entry()], provider="openai", model="claude-sonnet-4-5", at=NOW) is None


def test_lookup_at_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_price(
            [entry()], provider="anthropic", model="claude-sonnet-4-5", at=datetime(2026, 1, 1)
        )


def test_lookup_accepts_any_utc_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    found = find_price(
        [entry()],
        provider="anthropic",
        model="claude-sonnet-4-5",
        at=datetime(2025, 1, 1, 1, 0, tzinfo=plus_two),
    )
    assert found is None  # 2024-12-31T23:00Z, before the entry


# --- model id normalisation ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("anthropic/claude-opus-4-5", "claude-opus-4-5"),
        ("openrouter/anthropic/claude-opus-4-5", "claude-opus-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022"),
        ("claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),
        ("Claude-Sonnet-4.5", "claude-sonnet-4-5"),
        (" gpt-4.1-mini ", "gpt-4.1-mini"),
        ("openai/gpt-5", "gpt-5"),
    ],
)
def test_model_ids_are_normalised(raw: str, expected: str) -> None:
    assert normalize_model(raw) == expected


def test_bedrock_model_id_finds_the_anthropic_list_price() -> None:
    found = find_price(
        [entry()],
        provider="anthropic",
        model="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        at=NOW,
    )
    assert found is not None


# --- entry validation ---------------------------------------------------------


def test_entry_with_a_naive_effective_from_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        entry(effective_from=datetime(2025, 1, 1))


def test_entry_with_a_float_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="Decimal"):
        entry(input=3.0)


def test_entry_with_a_threshold_but_no_long_rates_is_refused() -> None:
    with pytest.raises(ValueError, match="required"):
        entry(long_context_threshold=200_000)


def test_entry_with_long_rates_but_no_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        entry(input_long=Decimal("6"))


def test_entry_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="after"):
        entry(effective_to=T0)


def test_entry_survives_a_trip_through_its_dict_form() -> None:
    original = long_entry(effective_to=NOW, source_url="https://example.com/p", note="n")
    text = json.dumps(price_entry_to_dict(original))
    assert price_entry_from_dict(json.loads(text)) == original


# --- the shipped price book -----------------------------------------------------


def shipped() -> list[PriceEntry]:
    return load_pricebook(DEFAULT_PRICEBOOK_PATH)


def test_every_shipped_price_cites_its_source() -> None:
    assert all(e.source_url.startswith("https://") for e in shipped())


def test_shipped_entries_of_one_model_never_overlap_in_time() -> None:
    book = shipped()
    far = datetime(9999, 1, 1, tzinfo=UTC)
    for a, b in ((a, b) for a in book for b in book if a is not b):
        if (a.provider, a.model) == (b.provider, b.model):
            assert (a.effective_to or far) <= b.effective_from or (
                b.effective_to or far
            ) <= a.effective_from


def test_shipped_book_prices_a_dated_claude_code_request() -> None:
    found = find_price(shipped(), provider="anthropic", model="claude-sonnet-4-5-20250929", at=NOW)
    assert found is not None
    assert compute_cost(found, input_tokens=1, output_tokens=1) == Decimal("0.000018")


def test_shipped_book_does_not_price_an_unlisted_opus_at_an_older_opus_rate() -> None:
    assert find_price(shipped(), provider="anthropic", model="claude-opus-4-9", at=NOW) is None


def test_shipped_book_keeps_the_first_gpt_4o_snapshot_at_its_own_price() -> None:
    found = find_price(shipped(), provider="openai", model="gpt-4o-2024-05-13", at=NOW)
    assert found is not None
    assert found.input == Decimal("5")


def test_shipped_sonnet_4_6_lost_its_long_context_premium_at_1m_general_availability() -> None:
    ga = datetime(2026, 3, 13, tzinfo=UTC)
    before = find_price(
        shipped(), provider="anthropic", model="claude-sonnet-4-6", at=ga - timedelta(seconds=1)
    )
    after = find_price(shipped(), provider="anthropic", model="claude-sonnet-4-6", at=ga)
    assert before is not None
    assert before.long_context_threshold == 200_000
    assert after is not None
    assert after.long_context_threshold is None


def test_shipped_anthropic_cache_writes_are_1_25x_and_2x_of_input() -> None:
    for e in shipped():
        if e.provider == "anthropic" and e.cache_write_5m is not None:
            assert (e.cache_write_5m, e.cache_write_1h) == (
                e.input * Decimal("1.25"),
                e.input * 2,
            ), e.model


def test_price_entry_fields_are_the_documented_model_columns() -> None:
    names = [f.name for f in dataclasses.fields(PriceEntry)]
    assert names == [
        "provider",
        "model",
        "match",
        "effective_from",
        "effective_to",
        "input",
        "output",
        "cache_write_5m",
        "cache_write_1h",
        "cache_read",
        "long_context_threshold",
        "input_long",
        "output_long",
        "cache_write_5m_long",
        "cache_write_1h_long",
        "cache_read_long",
        "source_url",
        "note",
    ]
