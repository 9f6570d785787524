"""``manage.py import_usage`` and the beat task, against a real local HTTP server.

The server (from test_vendor_usage_clients) replays the recorded Anthropic and
OpenAI report pages; the command reaches it through the base-URL environment
variables and stores through the ledger's ingest path into the real database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from integrations.tasks import import_usage_reports
from ledger.models import Source, TokenUsage
from tests.integrations.usage_reports.test_clients import (
    ANTHROPIC_COST,
    ANTHROPIC_PAGE_2,
    ANTHROPIC_USAGE,
    OPENAI_COSTS,
    OPENAI_PAGE_2,
    OPENAI_USAGE,
    FakeVendorApi,
    Reply,
    recorded,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vendor_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVendorApi]:
    server = FakeVendorApi()
    server.serve(ANTHROPIC_USAGE, None, recorded("anthropic", "usage_report_messages_page1.json"))
    server.serve(
        ANTHROPIC_USAGE, ANTHROPIC_PAGE_2, recorded("anthropic", "usage_report_messages_page2.json")
    )
    server.serve(ANTHROPIC_COST, None, recorded("anthropic", "cost_report_page1.json"))
    server.serve(ANTHROPIC_COST, ANTHROPIC_PAGE_2, recorded("anthropic", "cost_report_page2.json"))
    server.serve(OPENAI_USAGE, None, recorded("openai", "usage_completions_page1.json"))
    server.serve(OPENAI_USAGE, OPENAI_PAGE_2, recorded("openai", "usage_completions_page2.json"))
    server.serve(OPENAI_COSTS, None, recorded("openai", "costs.json"))
    server.thread.start()
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", "sk-ant-admin01-test")
    monkeypatch.setenv("OPENAI_ADMIN_API_KEY", "sk-admin-test")
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_ADMIN_API_BASE_URL", server.base_url)
    yield server
    server.server.shutdown()
    server.server.server_close()


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_usage", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def stored_for(slug: str) -> list[TokenUsage]:
    return list(TokenUsage.objects.filter(source__slug=slug).order_by("occurred_at", "model"))


def test_anthropic_report_is_stored_under_its_report_source(
    vendor_api: FakeVendorApi, settings: Any
) -> None:
    settings.AWU_NOW = "2025-08-10T06:00:00Z"
    output = run("anthropic", "--from", "2025-08-01", "--to", "2025-08-02")
    source = Source.objects.get(slug="anthropic-usage-report")
    assert source.kind == "anthropic"
    records = stored_for("anthropic-usage-report")
    assert [(r.occurred_at.date().isoformat(), r.model) for r in records] == [
        ("2025-08-01", "claude-3-5-haiku-20241022"),
        ("2025-08-01", "claude-sonnet-4-20250514"),
        ("2025-08-02", "claude-sonnet-4-20250514"),
    ]
    assert all(r.period_end is not None for r in records)
    assert "3 created" in output


def test_progress_is_shown(vendor_api: FakeVendorApi, settings: Any) -> None:
    settings.AWU_NOW = "2025-08-10T06:00:00Z"
    output = run("anthropic", "--from", "2025-08-01", "--to", "2025-08-02")
    assert "fetching 2025-08-01 to 2025-08-02" in output
    assert "3 usage record(s) fetched" in output
    assert "stored 3/3" in output


def test_importing_the_same_window_again_stores_nothing_new(
    vendor_api: FakeVendorApi, settings: Any
) -> None:
    settings.AWU_NOW = "2025-08-10T06:00:00Z"
    run("anthropic", "--from", "2025-08-01", "--to", "2025-08-02")
    output = run("anthropic", "--from", "2025-08-01", "--to", "2025-08-02")
    assert "0 created, 3 duplicate" in output
    assert len(stored_for("anthropic-usage-report")) == 3


def test_openai_report_is_stored_under_its_report_source(
    vendor_api: FakeVendorApi, settings: Any
) -> None:
    settings.AWU_NOW = "2024-11-05T00:00:00Z"
    run("openai", "--from", "2024-11-01", "--to", "2024-11-02")
    assert Source.objects.get(slug="openai-usage-report").kind == "openai"
    records = stored_for("openai-usage-report")
    assert records
    assert {r.provider for r in records} == {"openai"}
    # No model-level cost in OpenAI's report: the price book prices them (or flags them).
    assert {r.cost_source for r in records} <= {"computed", "unpriced"}


def test_only_closed_buckets_are_asked_for(vendor_api: FakeVendorApi, settings: Any) -> None:
    # On 2025-08-02 at 10:00 that day's bucket is still filling: the window stops at midnight.
    settings.AWU_NOW = "2025-08-02T10:00:00Z"
    run("anthropic", "--from", "2025-08-01", "--to", "2025-08-02")
    query = vendor_api.requests_to(ANTHROPIC_USAGE)[0].query
    assert ("starting_at", "2025-08-01T00:00:00Z") in query
    assert ("ending_at", "2025-08-02T00:00:00Z") in query


def test_a_window_with_no_closed_bucket_is_an_error(
    vendor_api: FakeVendorApi, settings: Any
) -> None:
    settings.AWU_NOW = "2025-08-02T10:00:00Z"
    with pytest.raises(CommandError, match="no closed daily bucket"):
        run("anthropic", "--from", "2025-08-02", "--to", "2025-08-02")
    assert not vendor_api.seen


def test_a_vendor_refusal_is_one_clear_error(vendor_api: FakeVendorApi, settings: Any) -> None:
    settings.AWU_NOW = "2025-08-10T06:00:00Z"
    vendor_api.serve(
        ANTHROPIC_USAGE,
        None,
        Reply(
            401,
            b'{"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}',
        ),
    )
    with pytest.raises(CommandError, match="answered 401: invalid x-api-key"):
        run("anthropic", "--from", "2025-08-01", "--to", "2025-08-02")
    assert not stored_for("anthropic-usage-report")


def test_bad_dates_are_refused(vendor_api: FakeVendorApi) -> None:
    with pytest.raises(CommandError, match="--from"):
        run("anthropic", "--from", "August 1st", "--to", "2025-08-02")
    with pytest.raises(CommandError, match="--to must not be before --from"):
        run("anthropic", "--from", "2025-08-02", "--to", "2025-08-01")


def test_missing_admin_key_exits_non_zero_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_ADMIN_API")}
    env.setdefault("AWU_ENV", "test")
    done = subprocess.run(
        [sys.executable, "manage.py", "import_usage", "anthropic", "--from", "2025-08-01",
         "--to", "2025-08-02"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "CommandError: anthropic usage import failed: "
        "ANTHROPIC_ADMIN_API_KEY is not set; it needs an Admin API key"
    ]


def test_daily_task_imports_yesterday_for_every_configured_provider(
    vendor_api: FakeVendorApi, settings: Any
) -> None:
    settings.AWU_NOW = "2025-08-02T03:00:00Z"
    summary = import_usage_reports()
    query = vendor_api.requests_to(ANTHROPIC_USAGE)[0].query
    assert ("starting_at", "2025-08-01T00:00:00Z") in query
    assert ("ending_at", "2025-08-02T00:00:00Z") in query
    assert set(summary) == {"anthropic", "openai"}
    assert stored_for("anthropic-usage-report")


def test_daily_task_skips_a_provider_without_a_key(
    vendor_api: FakeVendorApi, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AWU_NOW = "2025-08-02T03:00:00Z"
    monkeypatch.delenv("OPENAI_ADMIN_API_KEY")
    assert set(import_usage_reports()) == {"anthropic"}
    assert not vendor_api.requests_to(OPENAI_USAGE)
