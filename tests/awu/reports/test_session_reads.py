"""Report reads from the dashboard's session: GET only, reports:read, no key."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from ledger import access
from tests.awu.reports import build

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def signed_in() -> Client:
    client = Client(enforce_csrf_checks=True)
    user = User.objects.create_user("lead", password="a long pass phrase")
    access.grant(user=user, role=access.VIEWER)
    client.force_login(user)
    return client


def test_a_signed_in_person_reads_a_report_without_a_key(signed_in: Client) -> None:
    build.unit(build.definition(), units="2")
    response = signed_in.get("/api/v1/reports/efficiency", MARCH)
    assert response.status_code == 200
    assert response.json()["results"][0]["awus_completed"] == "2.000000"


def test_a_signed_in_person_exports_csv(signed_in: Client) -> None:
    response = signed_in.get("/api/v1/reports/trend", {**MARCH, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().startswith("period,")


def test_work_units_read_from_the_session(signed_in: Client) -> None:
    build.unit(build.definition())
    assert signed_in.get("/api/v1/work-units").status_code == 200


def test_without_a_session_or_key_a_report_is_refused(client: Client) -> None:
    assert client.get("/api/v1/reports/efficiency", MARCH).status_code == 401


def test_an_inactive_user_reads_nothing() -> None:
    client = Client()
    client.force_login(User.objects.create_user("gone", password="x", is_active=False))
    assert client.get("/api/v1/reports/efficiency", MARCH).status_code == 401


def test_a_user_without_a_role_reads_nothing() -> None:
    client = Client()
    client.force_login(User.objects.create_user("nobody", password="a long pass phrase"))
    assert client.get("/api/v1/reports/efficiency", MARCH).status_code == 401


def test_a_session_never_authenticates_a_write(signed_in: Client) -> None:
    body = {"source": "s", "id": "1", "type": "x.test", "occurred_at": "2026-03-01T00:00:00Z"}
    response = signed_in.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 401


def test_the_session_does_not_reach_the_ledger_writes_or_admin_reads(signed_in: Client) -> None:
    # Only the report reads take a session; the audit trail still needs a key.
    assert signed_in.get("/api/v1/audit-events").status_code in (401, 404)
