"""Scoring in the admin: the preview page of a definition version, work unit pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from awu.definitions.models import DefinitionVersion
from awu.definitions.services import definitions_install_defaults
from awu.scoring import services
from awu.scoring.models import WorkUnit
from ledger.ingest import events_ingest
from tests.e2e import stories

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _pinned(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    settings.AWU_NOW = "2026-11-23T12:00:00Z"


def test_preview_page_shows_counts_and_a_sample_with_evidence(admin_client: Client) -> None:
    definitions_install_defaults(now=NOW - timedelta(days=400))
    events_ingest(
        items=[
            *stories.ticket("a", NOW - timedelta(days=20)),
            *stories.ticket("b", NOW - timedelta(days=10), reopen_after=2),
        ],
        now=NOW,
    )
    version = DefinitionVersion.objects.get(definition__key="resolution")
    response = admin_client.get(
        reverse("admin:definitions_version_preview", args=[version.pk]), {"days": "30"}
    )
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.counts == {"completed": 1, "voided": 1}
    assert "ticket.reopened" in response.content.decode()
    assert not WorkUnit.objects.exists()


def test_work_unit_pages_are_read_only_and_link_their_evidence(admin_client: Client) -> None:
    definitions_install_defaults(now=NOW - timedelta(days=400))
    events_ingest(items=stories.contract("k", NOW - timedelta(days=1)), now=NOW)
    services.outbox_drain(clock=lambda: NOW)
    unit = WorkUnit.objects.get()
    response = admin_client.get(reverse("admin:scoring_workunit_change", args=[unit.pk]))
    assert response.status_code == 200
    assert "contract.signed" in response.content.decode()
    assert admin_client.get(reverse("admin:scoring_workunit_add")).status_code == 403


def test_version_page_links_to_its_preview(admin_client: Client) -> None:
    definitions_install_defaults(now=NOW)
    version = DefinitionVersion.objects.get(definition__key="resolution")
    response = admin_client.get(
        reverse("admin:definitions_definitionversion_change", args=[version.pk])
    )
    assert response.status_code == 200
    preview_url = reverse("admin:definitions_version_preview", args=[version.pk])
    assert f'href="{preview_url}"' in response.content.decode()
