"""``awu keys create|list|revoke``."""

from __future__ import annotations

from collections.abc import Callable

from django.test import Client

from ledger.models import ApiKey
from tests.cli.conftest import Ran, assert_one_line_error


def authenticated(client: Client, key: str) -> int:
    response = client.get("/api/v1/events", HTTP_AUTHORIZATION=f"Bearer {key}")
    return int(response.status_code)


def test_create_prints_the_key_alone_on_the_last_line(awu: Callable[..., Ran]) -> None:
    ran = awu("keys", "create", "deploy-bot", "--scope", "events:write", "--scope", "usage:write")

    assert ran.code == 0
    key = ran.last_line
    assert key.startswith("awu_")
    assert " " not in key
    row = ApiKey.objects.get(name="deploy-bot")
    assert key.startswith(row.prefix)
    assert row.scopes == ["events:write", "usage:write"]
    assert "not shown again" in ran.err


def test_created_key_authenticates(awu: Callable[..., Ran], client: Client) -> None:
    key = awu("keys", "create", "reader", "--scope", "reports:read").last_line
    assert authenticated(client, key) == 200


def test_list_shows_every_key_but_never_a_secret(awu: Callable[..., Ran]) -> None:
    first = awu("keys", "create", "deploy-bot", "--scope", "events:write").last_line
    second = awu("keys", "create", "dashboard", "--scope", "reports:read").last_line

    ran = awu("keys", "list")

    assert ran.code == 0
    assert "deploy-bot" in ran.out
    assert "dashboard" in ran.out
    assert first[:12] in ran.out
    assert first not in ran.out
    assert second not in ran.out
    assert first[12:] not in ran.out


def test_revoked_key_fails_authentication(awu: Callable[..., Ran], client: Client) -> None:
    key = awu("keys", "create", "reader", "--scope", "reports:read").last_line
    row = ApiKey.objects.get(name="reader")
    assert authenticated(client, key) == 200

    ran = awu("keys", "revoke", str(row.pk))

    assert ran.code == 0
    assert "Revoked API key" in ran.out
    assert authenticated(client, key) == 401


def test_list_active_leaves_revoked_keys_out(awu: Callable[..., Ran]) -> None:
    awu("keys", "create", "kept", "--scope", "reports:read")
    awu("keys", "create", "gone", "--scope", "reports:read")
    awu("keys", "revoke", str(ApiKey.objects.get(name="gone").pk))

    ran = awu("keys", "list", "--active")

    assert "kept" in ran.out
    assert "gone" not in ran.out


def test_revoking_an_unknown_key_is_one_line_and_a_failure(awu: Callable[..., Ran]) -> None:
    ran = awu("keys", "revoke", "999999")
    assert_one_line_error(ran, 1, "awu keys revoke:", "no API key with id 999999")


def test_an_unknown_scope_is_a_usage_error(awu: Callable[..., Ran]) -> None:
    ran = awu("keys", "create", "bot", "--scope", "everything")
    assert_one_line_error(ran, 2, "--scope", "unknown scope(s) everything")
    assert not ApiKey.objects.exists()


def test_create_without_a_scope_is_a_usage_error(awu: Callable[..., Ran]) -> None:
    ran = awu("keys", "create", "bot")
    assert_one_line_error(ran, 2, "--scope")


def test_create_limits_a_key_to_teams_and_list_shows_them(
    awu: Callable[..., Ran], client: Client
) -> None:
    from ledger.models import Team

    Team.objects.create(slug="payments", name="Payments")
    Team.objects.create(slug="search", name="Search")
    ran = awu(
        "keys", "create", "pay-reader", "--scope", "reports:read",
        "--team", "payments", "--team", "search",
    )  # fmt: skip
    assert ran.code == 0
    assert "limited to teams payments, search" in ran.err
    row = ApiKey.objects.get(name="pay-reader")
    assert sorted(row.teams.values_list("slug", flat=True)) == ["payments", "search"]
    listing = awu("keys", "list")
    assert "payments,search" in listing.out
    assert "teams" in listing.out.splitlines()[0]
    awu("keys", "create", "all-reader", "--scope", "reports:read")
    assert "(every team)" in awu("keys", "list").out
    # The key reads within its teams; another team is refused.
    response = client.get(
        "/api/v1/reports/efficiency",
        {"team": "billing"},
        HTTP_AUTHORIZATION=f"Bearer {ran.last_line}",
    )
    assert response.status_code == 403


def test_create_with_an_unknown_team_is_a_clear_error_and_makes_no_key(
    awu: Callable[..., Ran],
) -> None:
    ran = awu("keys", "create", "x", "--scope", "reports:read", "--team", "no-such-team")
    assert_one_line_error(ran, 2, "awu keys create", "--team: no team with slug 'no-such-team'")
    assert not ApiKey.objects.filter(name="x").exists()
