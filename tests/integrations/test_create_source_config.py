"""``manage.py create_source KIND SLUG [--secret S | --secret-stdin] [--config JSON]``.

Config keys are checked against the ones the vendor declares on its registry entry.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ledger import secrets
from ledger.models import Source

pytestmark = pytest.mark.django_db


def create(*args: str, stdin: str | None = None) -> str:
    out = StringIO()
    extra = {"stdin": StringIO(stdin)} if stdin is not None else {}
    call_command("create_source", *args, stdout=out, stderr=StringIO(), **extra)
    return out.getvalue()


def live_secrets(slug: str) -> list[str]:
    return secrets.live_secrets(Source.objects.get(slug=slug), now=timezone.now())


def test_a_secret_that_starts_with_a_dash_is_taken_in_the_equals_form() -> None:
    create("github", "acme", "--secret=-starts-with-a-dash")
    assert live_secrets("acme") == ["-starts-with-a-dash"]


def test_the_secret_can_come_from_standard_input() -> None:
    create("github", "acme", "--secret-stdin", stdin="from stdin\nignored\n")
    assert live_secrets("acme") == ["from stdin"]


def test_empty_standard_input_is_refused_and_sets_nothing() -> None:
    with pytest.raises(CommandError, match="standard input held no secret"):
        create("github", "acme", "--secret-stdin", stdin="")
    assert not Source.objects.filter(slug="acme").exists()


def test_secret_and_secret_stdin_together_are_refused() -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        create("github", "acme", "--secret", "s", "--secret-stdin", stdin="t\n")


def test_config_is_stored_on_a_new_source() -> None:
    create("hubspot", "emea", "--secret", "s", "--config", '{"stages": ["a", "b"]}')
    assert Source.objects.get(kind="hubspot", slug="emea").config == {"stages": ["a", "b"]}


def test_config_is_merged_into_the_existing_one() -> None:
    create("hubspot", "emea", "--config", '{"stages": ["a"], "pipeline": "sales"}')
    create("hubspot", "emea", "--config", '{"won_stages": ["a"], "pipeline": "emea"}')
    assert Source.objects.get(slug="emea").config == {
        "stages": ["a"],
        "won_stages": ["a"],
        "pipeline": "emea",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{stages: [a]}", "not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"stages": "a,b"}', "stages must be a list"),
        ('{"organization_id": 42}', "organization_id must be a string"),
    ],
)
def test_invalid_config_is_refused_and_nothing_is_created(raw: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        create("salesforce", "emea", "--config", raw)
    assert not Source.objects.filter(slug="emea").exists()


def test_a_key_the_vendor_does_not_read_is_refused_naming_the_keys_it_does() -> None:
    with pytest.raises(CommandError, match="'stage' is not a hubspot setting") as raised:
        create("hubspot", "emea", "--config", '{"stage": ["a"]}')
    assert "won_stages (stage ids that close a deal won)" in str(raised.value)
    assert not Source.objects.filter(slug="emea").exists()


def test_a_vendor_without_settings_refuses_any_config() -> None:
    with pytest.raises(CommandError, match="pagerduty takes no config keys"):
        create("pagerduty", "oncall", "--config", '{"stages": ["a"]}')


def test_a_key_shared_by_two_vendors_is_checked_against_each() -> None:
    create("gitlab", "platform", "--config", '{"ai_labels": ["ai"], "default_branch": "main"}')
    with pytest.raises(CommandError, match="default_branch must be a string"):
        create("github", "acme", "--config", '{"default_branch": ["main"]}')
