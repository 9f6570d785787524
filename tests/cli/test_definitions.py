"""``awu definitions list|preview|publish``: the admin's and the API's services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from awu.definitions.models import DefinitionVersion
from awu.definitions.services import definitions_install_defaults, version_draft_from
from awu.scoring.models import WorkUnit
from ledger.ingest import events_ingest
from tests.cli.conftest import Ran, assert_one_line_error
from tests.conftest import approval_off
from tests.e2e import stories

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def shipped(settings: Any, db: None) -> None:
    settings.AWU_NOW = NOW.isoformat()
    definitions_install_defaults(now=NOW - timedelta(days=400))


def latest(key: str) -> DefinitionVersion:
    return DefinitionVersion.objects.filter(definition__key=key).order_by("-version")[0]


def test_list_shows_every_definition_with_its_published_version(
    awu: Callable[..., Ran], shipped: None
) -> None:
    ran = awu("definitions", "list")

    assert ran.code == 0
    header, *rows = ran.out.splitlines()
    assert header.split()[:3] == ["key", "domain", "name"]
    by_key = {row.split()[0]: row.split() for row in rows}
    assert set(by_key) >= {"durable-change", "contract-signed", "resolution"}
    assert by_key["contract-signed"][1] == "legal"


def test_list_as_json_is_the_api_body(
    awu: Callable[..., Ran], shipped: None, api: Callable[..., Any]
) -> None:
    ran = awu("definitions", "list", "--domain", "legal", "--format", "json")

    from_api = api("reports:read").get("/api/v1/definitions", {"domain": "legal"}).json()
    assert orjson.loads(ran.out) == from_api
    assert [d["key"] for d in from_api["results"]] == ["contract-signed"]


def test_preview_scores_recent_triggers_and_writes_nothing(
    awu: Callable[..., Ran], shipped: None
) -> None:
    events_ingest(
        items=[
            *stories.contract("recent", NOW - timedelta(days=3)),
            *stories.contract("old", NOW - timedelta(days=90)),
        ],
        now=NOW,
    )

    ran = awu("definitions", "preview", "contract-signed", "--days", "30")

    assert ran.code == 0, ran.err
    assert "contract-signed v1" in ran.out
    assert "1 units (pending 1)" in ran.out  # its 30-day window is still open
    assert "test:recent" in ran.out
    assert "test:old" not in ran.out
    assert not WorkUnit.objects.exists()


def test_preview_days_out_of_range_is_a_usage_error(awu: Callable[..., Ran], shipped: None) -> None:
    ran = awu("definitions", "preview", "contract-signed", "--days", "366")
    assert_one_line_error(ran, 2, "--days")


def test_publish_publishes_the_latest_draft_from_now_on(
    awu: Callable[..., Ran], shipped: None
) -> None:
    approval_off("legal")  # publishing itself; four eyes: test_four_eyes.py
    draft = version_draft_from(version=latest("contract-signed"))

    ran = awu("definitions", "publish", "contract-signed")

    assert ran.code == 0, ran.err
    assert "Published contract-signed v2" in ran.out
    draft.refresh_from_db()
    assert draft.status == DefinitionVersion.Status.PUBLISHED
    assert draft.covers_from == NOW


def test_publish_without_a_draft_is_one_line_and_a_failure(
    awu: Callable[..., Ran], shipped: None
) -> None:
    ran = awu("definitions", "publish", "contract-signed")
    assert_one_line_error(ran, 1, "awu definitions publish:", "no draft")


def test_publish_refuses_a_draft_with_a_bad_expression(
    awu: Callable[..., Ran], shipped: None
) -> None:
    approval_off("legal")  # publishing itself; four eyes: test_four_eyes.py
    draft = version_draft_from(version=latest("contract-signed"))
    DefinitionVersion.objects.filter(pk=draft.pk).update(trigger_condition="event.actor ==")

    ran = awu("definitions", "publish", "contract-signed", "--version", str(draft.version))

    assert_one_line_error(ran, 1, "cannot be published", "trigger_condition")
    draft.refresh_from_db()
    assert draft.status == DefinitionVersion.Status.DRAFT


def test_publish_is_refused_where_the_domain_requires_approval(
    awu: Callable[..., Ran], shipped: None
) -> None:
    draft = version_draft_from(version=latest("contract-signed"))

    ran = awu("definitions", "publish", "contract-signed")

    assert_one_line_error(ran, 1, "awu definitions publish:", "legal domain requires approval")
    draft.refresh_from_db()
    assert draft.status == DefinitionVersion.Status.DRAFT


def test_an_unknown_definition_names_the_known_ones(awu: Callable[..., Ran], shipped: None) -> None:
    ran = awu("definitions", "preview", "contracts")
    assert_one_line_error(ran, 1, "no definition 'contracts'", "contract-signed")
