"""``/api/v1/service-names``: a source's names for services, mapped to the deploys' names."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.models import EventOutbox, ServiceName, Source

pytestmark = pytest.mark.django_db

URL = "/api/v1/service-names"


@pytest.fixture
def pagerduty(settings: Any) -> Source:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    return Source.objects.create(kind="pagerduty", slug="ops")


def mapping(**changes: str) -> dict[str, str]:
    return {"source": "pagerduty:ops", "external_name": "PF9KMXH", "service": "acme/api", **changes}


def test_an_admin_key_maps_a_service_id_and_reads_it_back(api: Any, pagerduty: Source) -> None:
    response = api("admin").post(URL, mapping())
    assert response.status_code == 201, response.content
    assert response.json()["service"] == "acme/api"

    listed = api("reports:read").get(URL).json()["results"]
    assert [(r["source"], r["external_name"], r["service"]) for r in listed] == [
        ("pagerduty:ops", "PF9KMXH", "acme/api")
    ]


def test_mapping_the_same_name_again_changes_it(api: Any, pagerduty: Source) -> None:
    api("admin").post(URL, mapping())
    response = api("admin").post(URL, mapping(service="acme/web"))
    assert response.status_code == 200
    assert ServiceName.objects.get().service == "acme/web"


def test_mapping_queues_the_sources_incidents_naming_it_for_scoring(
    api: Any, pagerduty: Source
) -> None:
    from ledger.models import WorkEvent

    event = WorkEvent.objects.create(
        source=pagerduty,
        external_id="e1",
        type="incident.opened",
        occurred_at="2026-11-01T12:00:00Z",
        received_at="2026-11-01T12:00:00Z",
        attributes={"service": "API Service", "service_id": "PF9KMXH"},
    )
    EventOutbox.objects.all().delete()
    api("admin").post(URL, mapping())
    assert list(EventOutbox.objects.values_list("event_ids", flat=True)) == [[event.pk]]


def test_writing_needs_the_admin_scope_and_reading_reports_read(
    api: Any, pagerduty: Source
) -> None:
    assert api("reports:read").post(URL, mapping()).status_code == 403
    assert api("events:write").get(URL).status_code == 403
    assert api().get(URL).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (mapping(source="pagerduty:nope"), "source"),
        (mapping(source="no-colon"), "source"),
        (mapping(external_name=""), "external_name"),
        (mapping(service="x" * 201), "service"),
        ({"source": "pagerduty:ops"}, "service"),
    ],
)
def test_a_bad_mapping_is_a_400_naming_the_field(
    api: Any, pagerduty: Source, body: dict[str, str], field: str
) -> None:
    response = api("admin").post(URL, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_body_that_is_not_an_object_is_a_400(api: Any, pagerduty: Source) -> None:
    assert api("admin").post(URL, [mapping()]).status_code == 400
