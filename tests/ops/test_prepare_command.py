"""``manage.py prepare``: what a server deployment runs before web, worker and beat."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from awu.definitions.models import Definition, DefinitionVersion
from awu.scoring.models import WorkUnit
from ledger.models import ApiKey, ModelPrice, TokenUsage, WorkEvent
from tests.conftest import Api

pytestmark = pytest.mark.django_db

NOW = "2026-11-23T12:00:00Z"


@pytest.fixture(autouse=True)
def _pinned_clock_and_no_broker(settings: Any) -> None:
    settings.AWU_NOW = NOW
    # The worker's code runs in the foreground here (score_now); no broker is involved.
    settings.AWU_OUTBOX_WAKE_TASK = ""


def prepare() -> str:
    out = io.StringIO()
    call_command("prepare", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        (migrations,) = cursor.fetchone()
    return {
        "migrations": migrations,
        "prices": ModelPrice.objects.count(),
        "definitions": Definition.objects.count(),
        "versions": DefinitionVersion.objects.count(),
        "users": get_user_model().objects.count(),
        "api keys": ApiKey.objects.count(),
    }


def test_a_prepared_database_prices_token_usage_posted_through_the_api(
    api: Callable[..., Api],
) -> None:
    assert not ModelPrice.objects.exists()  # what migrate alone leaves

    prepare()
    response = api("usage:write").post(
        "/api/v1/token-usage",
        {
            "source": "llm-gateway",
            "id": "req-1",
            "occurred_at": "2026-11-20T12:00:00Z",
            "actor": "alice@example.com",
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "input_tokens": 120000,
            "output_tokens": 8000,
        },
    )

    assert response.status_code == 201, response.content
    record = TokenUsage.objects.get(external_id="req-1")
    assert record.cost_source == TokenUsage.CostSource.COMPUTED
    assert record.cost_usd is not None
    assert record.cost_usd > 0
    assert record.price_id is not None


def test_a_prepared_database_scores_a_signed_contract_with_the_workers_code(
    api: Callable[..., Api],
) -> None:
    assert not Definition.objects.exists()  # what migrate alone leaves

    prepare()
    response = api("events:write").post(
        "/api/v1/events",
        {
            "source": "esign",
            "id": "envelope-1-completed",
            "type": "contract.signed",
            "occurred_at": "2026-09-20T12:00:00Z",
            "actor": "alice@example.com",
            "refs": {"envelope": ["env-1"]},
        },
    )
    assert response.status_code == 201, response.content
    call_command("score_now", stdout=io.StringIO())

    event = WorkEvent.objects.get(external_id="envelope-1-completed")
    unit = WorkUnit.objects.select_related("version__definition").get(trigger_event_id=event.pk)
    assert unit.version.definition.key == "contract-signed"
    assert unit.state == WorkUnit.State.COMPLETED
    assert unit.units == 1


def test_prepare_creates_no_user_and_no_api_key_and_prints_no_secret() -> None:
    before = counts()

    output = prepare()

    after = counts()
    assert (after["users"], after["api keys"]) == (before["users"], before["api keys"]) == (0, 0)
    assert "awu_" not in output
    assert "password" not in output.lower()


def test_a_second_run_changes_nothing_and_says_so() -> None:
    first = prepare()
    prepared = counts()

    second = prepare()

    assert counts() == prepared
    assert prepared["prices"] > 0
    assert prepared["definitions"] > 0
    assert "The database is prepared." in first
    assert second.splitlines() == [
        "Migrations: none to apply.",
        f"Prices: 0 shipped entries installed, {prepared['prices']} already there.",
        f"Definitions: all {prepared['definitions']} shipped definitions already there.",
        "Nothing changed: the database was already prepared.",
    ]


def test_prepare_keeps_a_price_edited_in_the_admin() -> None:
    prepare()
    price = ModelPrice.objects.filter(provider="anthropic").order_by("pk").first()
    assert price is not None
    ModelPrice.objects.filter(pk=price.pk).update(note="negotiated rate")

    prepare()

    assert ModelPrice.objects.get(pk=price.pk).note == "negotiated rate"


def test_up_prepares_through_prepare_and_says_what_its_time_counts() -> None:
    out = io.StringIO()

    call_command("up", "--no-services", "--no-demo", stdout=out)

    banner = out.getvalue()
    assert "Migrations: none to apply." in banner
    assert "The database is prepared." in banner
    assert ModelPrice.objects.exists()
    assert Definition.objects.exists()
    ready = next(line for line in banner.splitlines() if line.startswith("Ready in"))
    assert "database" in ready
    assert "not counted: ./run's package" in banner
