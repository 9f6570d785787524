"""manage.py import_prices --litellm: LiteLLM's price map into the price book."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ledger import ingest
from ledger.models import ModelPrice, TokenUsage
from ledger.pricing.book import forget_cached_book
from tests.ledger.factories import usage

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "litellm" / "model_prices_excerpt.json"
SYNCED = "2026-11-01T00:00:00Z"
LATER = "2026-11-10T00:00:00Z"
# Keys of the excerpt imported as chat prices (the others are skipped).
IMPORTED = 10
SKIPPED = 4


def run(*args: str, path: Path = FIXTURE) -> str:
    out = StringIO()
    call_command("import_prices", "--litellm", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def edited_copy(tmp_path: Path, key: str, **fields: Any) -> Path:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    data[key].update(fields)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_excerpt_creates_one_entry_per_chat_model_and_counts_the_rest() -> None:
    output = run("--effective-from", SYNCED)

    assert f"created: {IMPORTED} (0 replacing an earlier price)" in output
    assert "unchanged: 0" in output
    assert f"skipped: {SKIPPED}" in output
    assert ModelPrice.objects.count() == IMPORTED
    sonnet = ModelPrice.objects.get(provider="anthropic", model="claude-sonnet-4-5")
    assert (sonnet.input, sonnet.output, sonnet.cache_write_1h, sonnet.long_context_threshold) == (
        Decimal("3"),
        Decimal("15"),
        Decimal("6"),
        200_000,
    )
    assert sonnet.effective_from == datetime(2026, 11, 1, tzinfo=UTC)
    assert sonnet.effective_to is None


def test_every_skipped_key_is_printed_with_its_reason() -> None:
    output = run("--effective-from", SYNCED)

    assert "  sample_spec: documentation entry\n" in output
    assert "  heroku/claude-4-sonnet: no input and output token prices\n" in output
    assert "  gpt-4o-transcribe: mode 'audio_transcription' is not priced per chat token\n" in (
        output
    )


def test_a_second_run_creates_nothing() -> None:
    run("--effective-from", SYNCED)

    output = run("--effective-from", LATER)

    assert "created: 0" in output
    assert f"unchanged: {IMPORTED}" in output
    assert ModelPrice.objects.count() == IMPORTED


def test_a_second_run_without_a_date_creates_nothing() -> None:
    run()

    assert f"unchanged: {IMPORTED}" in run()
    assert ModelPrice.objects.count() == IMPORTED


def test_a_dry_run_reports_the_same_and_writes_nothing() -> None:
    output = run("--effective-from", SYNCED, "--dry-run")

    assert "Dry run: nothing was written." in output
    assert f"would create: {IMPORTED}" in output
    assert ModelPrice.objects.count() == 0


def test_a_changed_price_is_a_new_entry_and_the_old_one_ends_where_it_begins(
    tmp_path: Path,
) -> None:
    run("--effective-from", SYNCED)
    old = ModelPrice.objects.get(provider="anthropic", model="claude-sonnet-4-5")
    [priced] = ingest.usage_ingest(
        items=[usage(model="claude-sonnet-4-5", occurred_at="2026-11-05T12:00:00Z")],
        now=datetime(2026, 11, 23, tzinfo=UTC),
    )
    changed = edited_copy(tmp_path, "claude-sonnet-4-5", input_cost_per_token=4e-06)

    output = run("--effective-from", LATER, path=changed)

    assert "created: 1 (1 replacing an earlier price)" in output
    assert f"anthropic/claude-sonnet-4-5: replaces price #{old.pk} (from 2026-11-01)" in output
    new = ModelPrice.objects.get(provider="anthropic", model="claude-sonnet-4-5", input=4)
    old.refresh_from_db()
    assert (old.input, old.effective_to) == (Decimal("3"), new.effective_from)
    assert new.effective_from == datetime(2026, 11, 10, tzinfo=UTC)
    assert TokenUsage.objects.get(pk=priced.id).price_id == old.pk


def test_imported_prices_price_new_usage() -> None:
    run("--effective-from", SYNCED)
    forget_cached_book()

    [result] = ingest.usage_ingest(
        items=[
            usage(
                provider="openai",
                model="gpt-4.1",
                occurred_at="2026-11-05T12:00:00Z",
                input_tokens=1_000_000,
                output_tokens=0,
                cache_read_input_tokens=0,
            )
        ],
        now=datetime(2026, 11, 23, tzinfo=UTC),
    )

    record = TokenUsage.objects.get(pk=result.id)
    assert (record.cost_source, record.cost_usd) == ("computed", Decimal("2"))


def test_only_the_providers_asked_for_are_imported() -> None:
    output = run("--effective-from", SYNCED, "--provider", "openai")

    assert set(ModelPrice.objects.values_list("provider", flat=True)) == {"openai"}
    assert "provider 'anthropic' not requested" in output


def test_a_rate_the_price_book_would_round_is_skipped(tmp_path: Path) -> None:
    path = edited_copy(tmp_path, "gpt-4.1-nano", input_cost_per_token=1.23456789e-07)

    output = run("--effective-from", SYNCED, path=path)

    assert "gpt-4.1-nano: input 0.123456789 per million has more than 6 decimal places" in output
    assert not ModelPrice.objects.filter(model="gpt-4.1-nano").exists()


def test_a_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"^cannot read .*nope\.json: No such file"):
        run(path=tmp_path / "nope.json")


def test_a_file_that_is_not_json_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text("<html>rate limited</html>", encoding="utf-8")

    with pytest.raises(CommandError, match=r"prices\.json is not JSON") as raised:
        run(path=path)
    assert "\n" not in str(raised.value)
    assert ModelPrice.objects.count() == 0


def test_json_that_is_not_a_price_map_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")

    with pytest.raises(CommandError, match="not a LiteLLM price map"):
        run(path=path)


def test_a_bad_file_exits_non_zero_from_the_shell(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "import_prices", "--litellm", str(tmp_path / "nope.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=os.environ.copy(),
    )  # fmt: skip

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: cannot read")


def test_a_change_inside_a_priced_entry_that_already_ends_is_skipped(tmp_path: Path) -> None:
    run("--effective-from", SYNCED)
    old = ModelPrice.objects.get(provider="anthropic", model="claude-sonnet-4-5")
    ingest.usage_ingest(
        items=[usage(model="claude-sonnet-4-5", occurred_at="2026-11-05T12:00:00Z")],
        now=datetime(2026, 11, 23, tzinfo=UTC),
    )
    run("--effective-from", "2026-11-20", path=edited_copy(tmp_path, "claude-sonnet-4-5",
                                                           input_cost_per_token=4e-06))  # fmt: skip

    output = run(
        "--effective-from", LATER,
        path=edited_copy(tmp_path, "claude-sonnet-4-5", input_cost_per_token=5e-06),
    )  # fmt: skip

    assert f"the price in force then (#{old.pk}) has priced usage and already ends" in output
    old.refresh_from_db()
    assert old.effective_to == datetime(2026, 11, 20, tzinfo=UTC)
    assert not ModelPrice.objects.filter(model="claude-sonnet-4-5", input=5).exists()
