"""The definition admin: problems next to fields, publish, drafts, frozen versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from awu.definitions.models import Definition, DefinitionVersion
from awu.definitions.services import definitions_install_defaults
from tests.conftest import approval_off

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _pinned(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    settings.AWU_NOW = "2026-11-23T12:00:00Z"


@pytest.fixture(autouse=True)
def _publish_without_approval(db: None) -> None:
    # Publishing and rescoring themselves; four eyes: tests/awu/definitions/test_four_eyes.py.
    approval_off()


@pytest.fixture
def draft() -> DefinitionVersion:
    definition = Definition.objects.create(key="signed", name="Signed", domain="legal")
    return DefinitionVersion.objects.create(
        definition=definition, version=1, trigger_type="contract.signed"
    )


def change_url(version: DefinitionVersion) -> str:
    return reverse("admin:definitions_definitionversion_change", args=[version.pk])


def form_data(version: DefinitionVersion, **overrides: str) -> dict[str, str]:
    data = {
        "trigger_type": version.trigger_type,
        "trigger_condition": version.trigger_condition,
        "requires": "[]",
        "survive_days": str(version.survive_days),
        "disqualifiers": "[]",
        "units": version.units,
        "note": "",
    }
    data.update(overrides)
    return data


def test_saving_a_bad_condition_shows_its_position_next_to_the_field(
    admin_client: Client, draft: DefinitionVersion
) -> None:
    response = admin_client.post(
        change_url(draft), form_data(draft, trigger_condition="event.attributes.(")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["trigger_condition"][0].startswith("line 1, column ")
    draft.refresh_from_db()
    assert draft.trigger_condition == ""


def test_saving_a_deploy_window_of_zero_is_refused_with_the_field_named(
    admin_client: Client, draft: DefinitionVersion
) -> None:
    response = admin_client.post(
        change_url(draft), form_data(draft, incidents='{"window_hours": 0}')
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "incidents.window_hours must be more than 0" in errors["incidents"][0]
    draft.refresh_from_db()
    assert draft.incidents is None


def test_saving_a_valid_draft_changes_it(admin_client: Client, draft: DefinitionVersion) -> None:
    response = admin_client.post(change_url(draft), form_data(draft, survive_days="3"))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.survive_days == 3


def test_publish_button_publishes_a_valid_draft(
    admin_client: Client, draft: DefinitionVersion
) -> None:
    admin_client.post(reverse("admin:definitions_version_publish", args=[draft.pk]))
    draft.refresh_from_db()
    assert (draft.status, draft.published_at) == ("published", NOW)


def test_publish_button_refuses_an_invalid_draft(
    admin_client: Client, draft: DefinitionVersion
) -> None:
    DefinitionVersion.objects.filter(pk=draft.pk).update(units="event.(")
    response = admin_client.post(
        reverse("admin:definitions_version_publish", args=[draft.pk]), follow=True
    )
    assert "cannot be published" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_published_version_is_shown_read_only(admin_client: Client) -> None:
    definitions_install_defaults(now=NOW)
    version = DefinitionVersion.objects.get(definition__key="resolution")
    response = admin_client.get(change_url(version))
    assert response.status_code == 200
    assert 'name="survive_days"' not in response.content.decode()
    assert "frozen" in response.content.decode()
    assert admin_client.post(change_url(version), form_data(version)).status_code == 403


def test_new_draft_button_copies_a_frozen_version(admin_client: Client) -> None:
    definitions_install_defaults(now=NOW)
    version = DefinitionVersion.objects.get(definition__key="resolution")
    response = admin_client.post(reverse("admin:definitions_version_draft", args=[version.pk]))
    copy = DefinitionVersion.objects.get(definition__key="resolution", version=2)
    assert response["Location"] == change_url(copy)
    assert (copy.status, copy.disqualifiers) == ("draft", version.disqualifiers)
