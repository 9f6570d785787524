"""The preview: what a version would score over recent events, with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from awu.definitions.models import Definition, DefinitionVersion
from awu.definitions.services import definitions_install_defaults
from awu.scoring.models import AwuEntry, WorkUnit
from awu.scoring.preview import definition_preview
from ledger.ingest import events_ingest
from tests.e2e import stories

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_wakeups(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""


def test_preview_scores_recent_triggers_and_writes_nothing() -> None:
    definitions_install_defaults(now=NOW - timedelta(days=400))
    events = [
        *stories.durable_change("done", NOW - timedelta(days=50)),
        *stories.durable_change("open", NOW - timedelta(days=5)),
        *stories.durable_change("bad", NOW - timedelta(days=50), disqualifier="revert"),
        *stories.durable_change("old", NOW - timedelta(days=200)),
    ]
    events_ingest(items=events, now=NOW)
    version = DefinitionVersion.objects.get(definition__key="durable-change")

    preview = definition_preview(version=version, days=60, now=NOW)

    assert preview.counts == {"completed": 1, "pending": 1, "voided": 1}
    assert preview.units_total == 3
    assert preview.sample[0].evidence[0].type == "code.pr.merged"
    assert not WorkUnit.objects.exists()
    assert not AwuEntry.objects.exists()


def test_preview_of_a_version_with_problems_returns_them_instead() -> None:
    definition = Definition.objects.create(key="shipped", name="Shipped", domain="engineering")
    version = DefinitionVersion.objects.create(
        definition=definition, version=1, trigger_type="code.pr.merged", units="event.("
    )
    preview = definition_preview(version=version, days=30, now=NOW)
    assert "units" in preview.problems
    assert preview.units_total == 0
