"""API keys: bearer authentication, scopes per endpoint and method, storage, revocation."""

from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.test import Client

from ledger import auth
from ledger.models import ApiKey, WorkEvent
from tests.ledger.factories import event, usage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

EVENTS = "/api/v1/events"
USAGE = "/api/v1/token-usage"


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, orjson.dumps(body), content_type="application/json", **headers)


def test_request_without_a_key_is_a_401_with_www_authenticate(client: Client) -> None:
    response = post(client, EVENTS, event())

    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_listing_without_a_key_is_a_401(client: Client) -> None:
    response = client.get(EVENTS)

    assert response.status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token awu_abc", "awu_abc", "Bearer nope"],
)
def test_malformed_authorization_header_is_a_401(client: Client, header: str) -> None:
    response = post(client, EVENTS, event(), HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"
    assert "WWW-Authenticate" in response


def test_unknown_key_is_a_401(client: Client) -> None:
    response = post(client, EVENTS, event(), **bearer("awu_" + "A" * 43))

    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"


def test_overlong_key_is_a_401(client: Client) -> None:
    response = post(client, EVENTS, event(), **bearer("awu_" + "A" * 5000))

    assert response.status_code == 401


def test_revoked_key_is_a_401(client: Client) -> None:
    row, key = auth.api_key_create(name="bot", scopes=["events:write"])
    assert post(client, EVENTS, event(), **bearer(key)).status_code == 201

    auth.api_key_revoke(key_id=row.pk)

    response = post(client, EVENTS, event(), **bearer(key))
    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"


def test_events_write_key_cannot_post_usage(api: Any) -> None:
    response = api("events:write").post(USAGE, usage())

    assert response.status_code == 403
    assert response.json()["type"] == "permission_denied"


def test_usage_write_key_cannot_post_events(api: Any) -> None:
    response = api("usage:write").post(EVENTS, event())

    assert response.status_code == 403
    assert response.json()["type"] == "permission_denied"


def test_events_write_key_can_post_events(api: Any) -> None:
    assert api("events:write").post(EVENTS, event()).status_code == 201


def test_usage_write_key_can_post_usage(api: Any) -> None:
    assert api("usage:write").post(USAGE, usage()).status_code == 201


@pytest.mark.parametrize("url", [EVENTS, USAGE])
def test_write_keys_cannot_read_the_ledger(api: Any, url: str) -> None:
    response = api("events:write", "usage:write").get(url)

    assert response.status_code == 403


@pytest.mark.parametrize("url", [EVENTS, USAGE])
def test_reports_read_key_can_list(api: Any, url: str) -> None:
    assert api("reports:read").get(url).status_code == 200


def test_reports_read_key_cannot_post_events(api: Any) -> None:
    assert api("reports:read").post(EVENTS, event()).status_code == 403


def test_reports_read_key_cannot_post_usage(api: Any) -> None:
    assert api("reports:read").post(USAGE, usage()).status_code == 403


def test_admin_key_can_post_and_list_everything(api: Any) -> None:
    admin = api("admin")

    assert admin.post(EVENTS, event()).status_code == 201
    assert admin.post(USAGE, usage()).status_code == 201
    assert admin.get(EVENTS).status_code == 200
    assert admin.get(USAGE).status_code == 200


def test_forbidden_post_stores_nothing(api: Any) -> None:
    api("reports:read").post(EVENTS, event())

    assert WorkEvent.objects.count() == 0


def test_key_is_stored_only_as_its_sha256(make_key: Any) -> None:
    key = make_key("events:write")

    row = ApiKey.objects.get()
    assert row.hashed == hashlib.sha256(key.encode()).hexdigest()
    for field in ApiKey._meta.concrete_fields:
        assert key not in str(getattr(row, field.attname))


def test_key_has_the_documented_prefix_and_entropy(make_key: Any) -> None:
    key = make_key("events:write")

    assert key.startswith("awu_")
    assert len(key) >= 4 + 43


def test_creating_a_key_with_an_unknown_scope_is_refused(db: None) -> None:
    with pytest.raises(auth.UnknownScope):
        auth.api_key_create(name="bot", scopes=["events:delete"])


def test_last_used_at_is_set_when_the_key_is_used(api: Any) -> None:
    writer = api("events:write")
    assert ApiKey.objects.get().last_used_at is None

    writer.post(EVENTS, event())

    assert ApiKey.objects.get().last_used_at is not None


def test_create_api_key_command_prints_the_key_alone_on_the_last_line(db: None) -> None:
    out, err = StringIO(), StringIO()

    call_command("create_api_key", "deploy-bot", "--scope", "events:write", stdout=out, stderr=err)

    key = out.getvalue().rstrip("\n").splitlines()[-1]
    assert key == key.strip()
    assert key.startswith("awu_")
    assert auth.principal_for_key(key) is not None


def test_create_api_key_command_stores_the_scopes_given(db: None) -> None:
    call_command(
        "create_api_key",
        "gateway",
        "--scope",
        "usage:write",
        "--scope",
        "reports:read",
        stdout=StringIO(),
        stderr=StringIO(),
    )

    row = ApiKey.objects.get(name="gateway")
    assert sorted(row.scopes) == ["reports:read", "usage:write"]


def test_key_from_the_command_authenticates_requests(client: Client, db: None) -> None:
    out = StringIO()
    call_command("create_api_key", "bot", "--scope", "events:write", stdout=out, stderr=StringIO())
    key = out.getvalue().strip().splitlines()[-1]

    assert post(client, EVENTS, event(), **bearer(key)).status_code == 201
