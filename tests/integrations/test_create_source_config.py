"""``manage.py create_source KIND SLUG --config JSON``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ledger.models import Source

pytestmark = pytest.mark.django_db


def create(*args: str) -> str:
    out = StringIO()
    call_command("create_source", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


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
