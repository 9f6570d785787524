"""``--as`` names a user: the command checks that user's role (ledger.operators);
``AWU_CLI_REQUIRE_USER`` makes ``--as`` mandatory. The full command x role table
is in tests/reliability/test_authorization_matrix.py."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from ledger import access
from ledger.models import ApiKey, AuditEvent
from ledger.operators import OperatorRefused
from ledger.pricing.book import install_published_prices
from tests.cli.conftest import Ran, assert_one_line_error

pytestmark = pytest.mark.django_db


def user(name: str, role: str | None = None) -> User:
    made = User.objects.create_user(name)
    if role:
        access.grant(user=made, role=role)
    return made


def create_key(*extra: str) -> None:
    call_command("create_api_key", "ops-bot", "--scope", "events:write", *extra, stdout=StringIO())


def test_a_user_without_the_role_is_refused_naming_it_and_nothing_changes() -> None:
    user("vera", access.VIEWER)
    audit_rows = AuditEvent.objects.count()
    with pytest.raises(OperatorRefused, match="needs the admin role; vera has viewer"):
        create_key("--as", "vera")
    assert ApiKey.objects.count() == 0
    assert AuditEvent.objects.count() == audit_rows


def test_a_user_with_the_role_runs_it_and_is_the_recorded_operator() -> None:
    user("ada", access.ADMIN)
    create_key("--as", "ada")
    row = AuditEvent.objects.get(action="api_key.created")
    assert (row.actor_kind, row.actor) == ("operator", "ada")


def test_finance_reprices_but_does_not_create_keys() -> None:
    install_published_prices()
    user("fin", access.FINANCE)
    with pytest.raises(OperatorRefused, match="needs the admin role"):
        create_key("--as", "fin")
    out = StringIO()
    call_command(
        "reprice", "--provider", "anthropic", "--model", "claude-sonnet-4-5",
        "--from", "2026-10-01", "--to", "2026-10-31", "--as", "fin", stdout=out,
    )  # fmt: skip
    with pytest.raises(OperatorRefused, match="reprice needs the admin or finance role"):
        call_command(
            "reprice", "--provider", "anthropic", "--model", "claude-sonnet-4-5",
            "--from", "2026-10-01", "--to", "2026-10-31", "--as", user("nobody").username,
        )  # fmt: skip


def test_a_deactivated_admin_is_refused() -> None:
    ada = user("ada", access.ADMIN)
    User.objects.filter(pk=ada.pk).update(is_active=False)
    with pytest.raises(OperatorRefused, match="deactivated"):
        create_key("--as", "ada")


def test_without_the_setting_a_name_that_is_no_user_is_only_recorded() -> None:
    create_key("--as", "night-shift")
    create_key()
    assert ApiKey.objects.count() == 2


def test_with_the_setting_as_is_required_and_must_name_a_user(settings: Any) -> None:
    settings.AWU_CLI_REQUIRE_USER = True
    with pytest.raises(OperatorRefused, match="--as USER"):
        create_key()
    with pytest.raises(OperatorRefused, match="no such user"):
        create_key("--as", "night-shift")
    user("ada", access.ADMIN)
    create_key("--as", "ada")
    assert ApiKey.objects.count() == 1


def test_awu_keys_checks_the_role_of_as(awu: Callable[..., Ran]) -> None:
    user("vera", access.VIEWER)
    ran = awu("--as", "vera", "keys", "create", "bot", "--scope", "events:write")
    assert_one_line_error(ran, 1, "awu keys create needs the admin role", "vera has viewer")
    assert ApiKey.objects.count() == 0
    user("ada", access.ADMIN)
    assert awu("--as", "ada", "keys", "create", "bot", "--scope", "events:write").code == 0
    refused = awu("--as", "vera", "directory", "import", "/nonexistent.csv")
    assert_one_line_error(refused, 1, "directory_import needs the admin role")
