"""Import from and export to LiteLLM's model_prices_and_context_window.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.pricing.cost import PriceEntry
from ledger.pricing.litellm import export_litellm, import_litellm

FIXTURE = Path(__file__).parents[1] / "fixtures" / "litellm" / "model_prices_excerpt.json"
SYNCED = datetime(2026, 11, 23, tzinfo=UTC)


def excerpt(**json_kwargs: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"), **json_kwargs)
    return data


def imported(providers: set[str] | None = None) -> dict[str, PriceEntry]:
    result = import_litellm(excerpt(), effective_from=SYNCED, providers=providers)
    return {e.model: e for e in result.entries}


def skipped(providers: set[str] | None = None) -> dict[str, str]:
    result = import_litellm(excerpt(), effective_from=SYNCED, providers=providers)
    return {s.key: s.reason for s in result.skipped}


# --- import -------------------------------------------------------------------


def test_per_token_prices_become_exact_per_million_prices() -> None:
    sonnet = imported()["claude-sonnet-4-5"]
    assert (
        sonnet.input,
        sonnet.output,
        sonnet.cache_write_5m,
        sonnet.cache_write_1h,
        sonnet.cache_read,
    ) == (Decimal("3"), Decimal("15"), Decimal("3.75"), Decimal("6"), Decimal("0.3"))


def test_conversion_does_not_inherit_binary_float_error() -> None:
    # 1.25e-07 * 1e6 in binary floating point is 0.12499999999999999.
    assert imported()["gpt-5"].cache_read == Decimal("0.125")


def test_json_parsed_with_decimal_floats_gives_the_same_prices() -> None:
    as_decimal = import_litellm(excerpt(parse_float=Decimal), effective_from=SYNCED).entries
    assert as_decimal == import_litellm(excerpt(), effective_from=SYNCED).entries


def test_anthropic_200k_fields_become_the_long_context_tier() -> None:
    sonnet = imported()["claude-sonnet-4-5"]
    assert (
        sonnet.long_context_threshold,
        sonnet.input_long,
        sonnet.output_long,
        sonnet.cache_write_5m_long,
        sonnet.cache_write_1h_long,
        sonnet.cache_read_long,
    ) == (200_000, Decimal("6"), Decimal("22.5"), Decimal("7.5"), Decimal("12"), Decimal("0.6"))


def test_openai_272k_fields_become_a_272k_threshold() -> None:
    assert imported()["gpt-5.4"].long_context_threshold == 272_000


def test_flex_priority_and_batch_prices_are_not_taken_as_list_prices() -> None:
    assert imported()["gpt-4.1"].input == Decimal("2")


def test_imported_entries_start_at_the_given_time_and_stay_open() -> None:
    sonnet = imported()["claude-sonnet-4-5"]
    assert (sonnet.effective_from, sonnet.effective_to) == (SYNCED, None)


def test_bedrock_keys_are_normalised_and_keep_their_provider() -> None:
    bedrock = imported()["claude-sonnet-4-5-20250929"]
    assert bedrock.provider == "bedrock"


def test_sample_spec_is_skipped() -> None:
    assert "sample_spec" in skipped()


def test_non_chat_modes_are_skipped_with_their_mode() -> None:
    reasons = skipped()
    assert "image_generation" in reasons["1024-x-1024/dall-e-2"]
    assert "audio_transcription" in reasons["gpt-4o-transcribe"]


def test_providers_not_asked_for_are_skipped() -> None:
    models = imported(providers={"anthropic", "openai"})
    assert "llama-3.1-8b-instant" not in models
    assert (
        "not requested" in skipped(providers={"anthropic", "openai"})["groq/llama-3.1-8b-instant"]
    )


def test_entry_without_token_prices_is_skipped() -> None:
    assert "no input and output" in skipped()["heroku/claude-4-sonnet"]


def test_every_key_is_either_imported_or_reported_skipped() -> None:
    result = import_litellm(excerpt(), effective_from=SYNCED)
    assert len(result.entries) + len(result.skipped) == len(excerpt())


def test_import_with_a_naive_effective_from_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        import_litellm(excerpt(), effective_from=datetime(2026, 1, 1))


def test_boolean_price_is_skipped_not_read_as_one() -> None:
    spec = {
        "m": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": True,
            "output_cost_per_token": 1e-06,
        }
    }
    result = import_litellm(spec, effective_from=SYNCED)
    assert [s.key for s in result.skipped] == ["m"]


# --- export -------------------------------------------------------------------


def test_export_uses_litellm_field_names_and_exact_numbers() -> None:
    exported = export_litellm([imported()["claude-sonnet-4-5"]])["claude-sonnet-4-5"]
    assert exported["input_cost_per_token"] == 3e-06
    assert exported["cache_creation_input_token_cost_above_1hr"] == 6e-06
    assert exported["cache_creation_input_token_cost_above_1hr_above_200k_tokens"] == 1.2e-05
    assert exported["litellm_provider"] == "anthropic"
    assert exported["mode"] == "chat"


def test_exported_json_text_carries_the_shortest_exact_numbers() -> None:
    text = json.dumps(export_litellm([imported()["gpt-5"]]))
    assert '"cache_read_input_token_cost": 1.25e-07' in text


def test_export_then_import_of_the_fixture_gives_the_same_prices() -> None:
    originals = import_litellm(excerpt(), effective_from=SYNCED).entries
    text = json.dumps(export_litellm(originals))
    again = import_litellm(json.loads(text), effective_from=SYNCED).entries
    assert [_prices(e) for e in again] == [_prices(e) for e in originals]


def test_export_refuses_a_price_a_json_number_cannot_hold_exactly() -> None:
    odd = _entry(input=Decimal("1.2345678901234567891"))
    with pytest.raises(ValueError, match="exactly"):
        export_litellm([odd])


def test_export_refuses_a_threshold_litellm_cannot_name() -> None:
    odd = _entry(long_context_threshold=200_500, input_long=Decimal(6), output_long=Decimal(22))
    with pytest.raises(ValueError, match="thousands"):
        export_litellm([odd])


# Per-million rates as vendors publish them: up to 4 decimal places, < $10,000.
rates = st.integers(min_value=0, max_value=99_999_999).map(lambda n: Decimal(n).scaleb(-4))
optional_rates = st.none() | rates


@st.composite
def price_entries(draw: st.DrawFn) -> PriceEntry:
    tiered = draw(st.booleans())
    long: dict[str, Any] = {}
    if tiered:
        long = {
            "long_context_threshold": draw(st.integers(min_value=1, max_value=2_000)) * 1000,
            "input_long": draw(rates),
            "output_long": draw(rates),
            "cache_write_5m_long": draw(optional_rates),
            "cache_write_1h_long": draw(optional_rates),
            "cache_read_long": draw(optional_rates),
        }
    return _entry(
        provider=draw(st.sampled_from(["anthropic", "openai", "bedrock"])),
        input=draw(rates),
        output=draw(rates),
        cache_write_5m=draw(optional_rates),
        cache_write_1h=draw(optional_rates),
        cache_read=draw(optional_rates),
        **long,
    )


@given(price_entries())
def test_export_then_import_gives_the_same_prices(original: PriceEntry) -> None:
    text = json.dumps(export_litellm([original]))
    (again,) = import_litellm(json.loads(text), effective_from=SYNCED).entries
    assert _prices(again) == _prices(original)


def _entry(**overrides: Any) -> PriceEntry:
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "effective_from": SYNCED,
        "input": Decimal(3),
        "output": Decimal(15),
    }
    fields.update(overrides)
    return PriceEntry(**fields)


def _prices(e: PriceEntry) -> tuple[object, ...]:
    return (
        e.provider,
        e.model,
        e.input,
        e.output,
        e.cache_write_5m,
        e.cache_write_1h,
        e.cache_read,
        e.long_context_threshold,
        e.input_long,
        e.output_long,
        e.cache_write_5m_long,
        e.cache_write_1h_long,
        e.cache_read_long,
    )
