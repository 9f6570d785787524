"""GET /api/v1/alerts and POST /api/v1/alerts/<id>/acknowledge, and the alerts page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from awu.alerts import selectors, services
from awu.alerts.models import Alert, AlertTransition
from ledger import access, auth
from ledger.models import AuditEvent, Team
from tests.awu.alerts.scenario import NOW, trip_every_rule
from tests.conftest import Api
from tests.roles import user_with


@pytest.fixture
def alerts(settings: Any, db: None) -> list[Alert]:
    settings.AWU_NOW = NOW
    trip_every_rule()
    services.alerts_evaluate()
    return list(Alert.objects.order_by("id"))


def test_listing_pages_newest_first_and_filters(
    alerts: list[Alert], api: Callable[..., Api]
) -> None:
    reader = api("reports:read")
    first = reader.get("/api/v1/alerts", {"limit": 2}).json()
    assert [r["id"] for r in first["results"]] == [a.pk for a in alerts[::-1][:2]]
    rest = reader.get("/api/v1/alerts", {"cursor": first["next_cursor"]}).json()
    assert len(first["results"]) + len(rest["results"]) == len(alerts)
    mobile = reader.get("/api/v1/alerts", {"team": "mobile"}).json()["results"]
    assert {r["rule"] for r in mobile} == {"efficiency_drop"}
    pace = reader.get("/api/v1/alerts", {"rule": "spend_pace", "state": "open"}).json()["results"]
    assert [r["team"] for r in pace] == ["payments"]


def test_listing_as_csv(alerts: list[Alert], api: Callable[..., Api]) -> None:
    response = api("reports:read").get("/api/v1/alerts", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert b"spend_pace" in response.content


@pytest.mark.parametrize(("name", "value"), [("state", "closed"), ("rule", "nope")])
def test_a_bad_filter_is_a_400_naming_it(
    alerts: list[Alert], api: Callable[..., Api], name: str, value: str
) -> None:
    response = api("reports:read").get("/api/v1/alerts", {name: value})
    assert response.status_code == 400
    assert name in response.json()["errors"]


def test_the_team_limit_selector_keeps_other_teams_out(alerts: list[Alert]) -> None:
    mobile = next(a.team_id for a in alerts if a.rule == "efficiency_drop")
    rows, _ = selectors.alerts_list(team_ids=frozenset({mobile}))
    assert {r["team"] for r in rows} == {"mobile"}
    assert selectors.alerts_list(team_ids=frozenset())[0] == []


def test_acknowledge_records_who_and_when_once(
    alerts: list[Alert], api: Callable[..., Api]
) -> None:
    admin = api("admin")
    alert = alerts[0]
    answer = admin.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {})
    assert answer.status_code == 200
    assert answer.json()["state"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == "test"
    assert admin.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {}).status_code == 200
    assert AlertTransition.objects.filter(alert=alert, state="acknowledged").count() == 1
    assert AuditEvent.objects.filter(action="alert.acknowledged").count() == 1


def test_acknowledge_needs_admin(alerts: list[Alert], api: Callable[..., Api]) -> None:
    response = api("reports:read").post(f"/api/v1/alerts/{alerts[0].pk}/acknowledge", {})
    assert response.status_code == 403


def test_acknowledging_a_missing_or_resolved_alert(
    alerts: list[Alert], api: Callable[..., Api]
) -> None:
    admin = api("admin")
    assert admin.post("/api/v1/alerts/999999/acknowledge", {}).status_code == 404
    Alert.objects.filter(pk=alerts[0].pk).update(state="resolved")
    assert admin.post(f"/api/v1/alerts/{alerts[0].pk}/acknowledge", {}).status_code == 409


def test_a_signed_in_viewer_acknowledges_on_the_alerts_page(alerts: list[Alert]) -> None:
    access.grant(
        user=User.objects.create_user("viewer", password="pw-viewer-1"), role=access.VIEWER
    )
    client = Client(enforce_csrf_checks=True)
    client.login(username="viewer", password="pw-viewer-1")
    page = client.get("/alerts/")
    assert page.status_code == 200
    assert f'id="alert-{alerts[0].pk}"' in page.content.decode()
    # Without the CSRF token the POST is refused.
    assert client.post(f"/alerts/{alerts[0].pk}/acknowledge").status_code == 403
    token = page.context["csrf_token"]
    done = client.post(f"/alerts/{alerts[0].pk}/acknowledge", {"csrfmiddlewaretoken": str(token)})
    assert done.status_code == 302
    alerts[0].refresh_from_db()
    assert alerts[0].state == "acknowledged"
    assert alerts[0].acknowledged_by == "viewer"


def test_open_alerts_show_on_the_dashboard_and_the_team_page_with_its_budget(
    alerts: list[Alert],
) -> None:
    access.grant(
        user=User.objects.create_user("viewer", password="pw-viewer-1"), role=access.VIEWER
    )
    client = Client()
    client.login(username="viewer", password="pw-viewer-1")
    assert 'id="alerts-panel"' in client.get("/").content.decode()
    team = client.get("/teams/payments/").content.decode()
    assert 'id="alerts-panel"' in team
    assert 'id="budget"' in team
    assert 'data-field="monthly_budget">$100.00<' in team


def test_alert_transitions_are_append_only(alerts: list[Alert]) -> None:
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        AlertTransition.objects.update(actor="someone else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AlertTransition.objects.all().delete()


def test_metrics_count_open_alerts_and_failed_deliveries(
    alerts: list[Alert], api: Callable[..., Api]
) -> None:
    text = api("reports:read").get("/metrics").content.decode()
    [line] = [x for x in text.splitlines() if x.startswith("awu_alerts_open ")]
    assert float(line.split()[1]) == len(alerts)
    assert "awu_alert_deliveries_failed 0.0" in text


def _session(name: str, *grants: tuple[str, Team | None]) -> tuple[Client, str]:
    user_with(name, *grants, password=f"pw-{name}-1")
    client = Client(enforce_csrf_checks=True)
    client.login(username=name, password=f"pw-{name}-1")
    return client, str(client.get("/alerts/").context["csrf_token"])


def test_a_session_with_a_role_acknowledges_its_teams_alerts_with_its_csrf_token(
    alerts: list[Alert],
) -> None:
    alert = alerts[0]
    assert alert.team is not None
    url = f"/api/v1/alerts/{alert.pk}/acknowledge"
    elsewhere = Team.objects.create(slug="elsewhere", name="Elsewhere")

    nobody, token = _session("nobody")
    assert (
        nobody.post(url, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 401
    )
    other, token = _session("other", (access.VIEWER, elsewhere))
    assert (
        other.post(url, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 404
    )
    lead, token = _session("ops", (access.TEAM_LEAD, alert.team))
    assert lead.post(url, content_type="application/json").status_code == 403  # no CSRF token
    answer = lead.post(url, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert answer.status_code == 200
    assert answer.json()["acknowledged_by"] == "user:ops"
    assert Alert.objects.get(pk=alert.pk).state == "acknowledged"


def test_a_key_limited_to_a_team_lists_and_acknowledges_only_its_alerts(
    alerts: list[Alert], client: Client
) -> None:
    mobile = Team.objects.get(slug="mobile")
    _, key = auth.api_key_create(name="mobile-only", scopes=["admin"], teams=[mobile])
    limited = Api(client, key)
    rows = limited.get("/api/v1/alerts").json()["results"]
    assert rows
    assert {r["team"] for r in rows} == {"mobile"}
    assert len(rows) == sum(1 for a in alerts if a.team_id == mobile.pk)
    assert limited.get("/api/v1/alerts", {"team": "payments"}).status_code == 403
    elsewhere = next(a for a in alerts if a.team_id != mobile.pk)
    assert limited.post(f"/api/v1/alerts/{elsewhere.pk}/acknowledge", b"").status_code == 404
    assert Alert.objects.get(pk=elsewhere.pk).state == "open"
    own = next(a for a in alerts if a.team_id == mobile.pk)
    assert limited.post(f"/api/v1/alerts/{own.pk}/acknowledge", b"").status_code == 200
