"""DocuSign Connect deliveries through POST /api/v1/hooks/docusign/<source>, real database."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.integrations.webhooks import (
    events_of,
    fixture,
    make_source,
    post_hook,
    signed,
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "connect-key-one"
OLD_SECRET = "connect-key-zero"
SLUG = "legal"
ENVELOPE = "93be49ab-1234-4d0b-9a5c-f752070d71ec"


def deliver(client: Client, settings: Any, body: bytes, *secrets: str) -> Any:
    # The completed envelope is dated 2026-11-03; the clock sits just after it.
    settings.AWU_NOW = "2026-11-03T15:43:00Z"
    headers = {
        f"X-DocuSign-Signature-{n}": signed("docusign", body, secret).headers[
            "X-DocuSign-Signature-1"
        ]
        for n, secret in enumerate(secrets or (SECRET,), 1)
    }
    return post_hook(client, "docusign", SLUG, body, headers)


@pytest.fixture
def source() -> Any:
    return make_source("docusign", SLUG, SECRET, previous=OLD_SECRET)


def test_completed_envelope_is_stored_as_a_signed_contract(
    client: Client, settings: Any, source: Any
) -> None:
    response = deliver(client, settings, fixture("docusign", "envelope_completed.json"))
    assert response.status_code == 200, response.content
    assert stored(source) == [(f"envelope-completed:{ENVELOPE}", "contract.signed")]
    assert events_of(source)[0].refs == {"envelope": [ENVELOPE]}


def test_one_matching_header_among_several_connect_keys_verifies(
    client: Client, settings: Any, source: Any
) -> None:
    body = fixture("docusign", "envelope_completed.json")
    assert deliver(client, settings, body, "another-account-key", SECRET).status_code == 200
