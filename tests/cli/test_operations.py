"""``awu up``, ``awu rescore`` and ``awu import-usage``: the management commands, in-process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from awu.definitions.services import definitions_install_defaults
from awu.scoring.models import WorkUnit
from ledger.ingest import events_ingest
from ledger.models import ApiKey, TokenUsage
from tests.cli.conftest import Ran, assert_one_line_error
from tests.conftest import approval_off
from tests.e2e import stories
from tests.integrations.test_import_usage import vendor_api  # noqa: F401 - the fixture
from tests.integrations.usage_reports.test_clients import FakeVendorApi

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_up_without_services_prepares_and_prints_the_first_run_key(
    awu: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWU_DEMO", "0")  # the demo company is not under test here

    ran = awu("up", "--no-services", "--port", "8123")

    assert ran.code == 0, ran.err
    assert "AWU Ledger is ready." in ran.out
    assert "http://127.0.0.1:8123/api/docs/" in ran.out
    [key_line] = [line for line in ran.out.splitlines() if "admin API key" in line]
    key = key_line.split()[3]
    assert ApiKey.objects.get(prefix=key[:12]).scopes == ["admin"]


def test_up_passes_a_bad_option_back_as_a_usage_error(awu: Callable[..., Ran]) -> None:
    ran = awu("up", "--port", "not-a-port")
    assert_one_line_error(ran, 2, "awu up:", "--port")


def test_up_help_lists_the_options_of_manage_py_up(awu: Callable[..., Ran]) -> None:
    ran = awu("up", "--help")
    assert ran.code == 0
    assert ran.out.startswith("usage: awu up")
    assert "--no-services" in ran.out


def test_rescore_replays_history_into_a_new_version(awu: Callable[..., Ran], settings: Any) -> None:
    settings.AWU_NOW = NOW.isoformat()
    approval_off("legal")
    definitions_install_defaults(now=NOW - timedelta(days=400))
    events_ingest(items=stories.contract("signed", NOW - timedelta(days=40)), now=NOW)

    ran = awu("rescore", "contract-signed", "--from", "2026-01-01")

    assert ran.code == 0, ran.err
    assert "Published contract-signed v2" in ran.out
    assert "completed 1" in ran.out
    [unit] = WorkUnit.objects.filter(version__definition__key="contract-signed")
    assert (unit.version.version, unit.state) == (2, "completed")


def test_rescore_of_an_unknown_definition_is_one_line_and_a_failure(
    awu: Callable[..., Ran],
) -> None:
    ran = awu("rescore", "no-such-rule")
    assert_one_line_error(ran, 1, "awu rescore:", "no definition 'no-such-rule'")


def test_import_usage_stores_the_vendor_report(
    awu: Callable[..., Ran],
    vendor_api: FakeVendorApi,  # noqa: F811 - the imported fixture
    settings: Any,
) -> None:
    settings.AWU_NOW = "2025-08-10T06:00:00Z"

    ran = awu("import-usage", "anthropic", "--from", "2025-08-01", "--to", "2025-08-02")

    assert ran.code == 0, ran.err
    assert "stored 3/3" in ran.out
    assert "3 created" in ran.out
    assert TokenUsage.objects.filter(source__slug="anthropic-usage-report").count() == 3


def test_import_usage_without_a_credential_is_one_clear_line(
    awu: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.AWU_NOW = "2025-08-10T06:00:00Z"
    monkeypatch.delenv("ANTHROPIC_ADMIN_API_KEY", raising=False)

    ran = awu("import-usage", "anthropic", "--from", "2025-08-01", "--to", "2025-08-02")

    assert_one_line_error(ran, 1, "awu import-usage:", "ANTHROPIC_ADMIN_API_KEY is not set")


def test_import_usage_of_an_unknown_vendor_is_a_usage_error(awu: Callable[..., Ran]) -> None:
    ran = awu("import-usage", "claude", "--from", "2025-08-01", "--to", "2025-08-02")
    assert_one_line_error(ran, 2, "invalid choice: 'claude'")
