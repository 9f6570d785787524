"""Vendor mappings fed random and mutated real payloads.

Each vendor's ``parse`` starts from its recorded deliveries (tests/fixtures/<vendor>/)
with keys dropped, values swapped for other types, nulls or huge strings, values
nested deeper, bodies truncated, headers missing, or from random JSON: it either
returns ``Mapped`` or raises ``MappingError``, and every record it returns is
either valid for the ingest schema or refused by it as invalid, never anything
else. Then the same through the real endpoint, signed with the source's secret:
never a 500, a clear answer, and no partial write (stored whole, ignored, or
kept whole as a dead letter).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils.datastructures import CaseInsensitiveMapping
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from integrations.models import DeadLetter
from integrations.webhooks.base import Delivery, Mapped, MappingError
from integrations.webhooks.registry import load_vendors
from ledger.models import Source, TokenUsage, WorkEvent
from ledger.schemas import TokenUsageIn, WorkEventIn
from tests.integrations.webhooks import fixture, ignored_count
from tests.integrations.webhooks.test_webhook_contract import HOOKS, Hook, source_for
from tests.reliability.security_helpers import ANY_JSON, mutated_body, mutated_xml

# The header naming the event kind, for vendors that send one.
KIND_HEADER = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event"}
URL = "https://ledger.example.com/api/v1/hooks/vendor/source"
# Vendors that sign a time carried in the body: a mutation there is a refused replay.
TIME_IN_BODY = {"linear"}

PARSE_EXAMPLES = 60
ENDPOINT_EXAMPLES = 12


def samples(hook: Hook) -> list[tuple[str, str]]:
    return [hook.valid, *hook.ignored]


def headers_for(hook: Hook, kind: str) -> dict[str, str]:
    headers = dict(hook.unsigned_headers)
    if kind and hook.vendor in KIND_HEADER:
        headers[KIND_HEADER[hook.vendor]] = kind
    return headers


def payloads(hook: Hook, name: str) -> st.SearchStrategy[bytes]:
    seed = fixture(hook.vendor, name)
    if name.endswith(".xml"):
        return mutated_xml(seed)
    return st.one_of(
        mutated_body(seed),
        mutated_body(seed),
        mutated_body(seed),
        ANY_JSON.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=64),
    )


def validates_or_is_refused(record: Mapping[str, Any], model: Any) -> None:
    """The ingest schema accepts the record or refuses it as invalid; nothing else."""
    with contextlib.suppress(ValidationError):
        model.model_validate({**record, "source": "fuzz"})


each_hook = [pytest.param(hook, id=hook.vendor) for hook in HOOKS]


@pytest.mark.parametrize("hook", each_hook)
@settings(max_examples=PARSE_EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def test_parse_maps_or_refuses_a_mutated_real_payload_and_nothing_else(
    hook: Hook, data: Any
) -> None:
    vendor = load_vendors()[hook.vendor]
    kind, name = data.draw(st.sampled_from(samples(hook)), label="sample")
    body = data.draw(payloads(hook, name), label="body")
    headers = headers_for(hook, kind)
    dropped = data.draw(st.sets(st.sampled_from(sorted(headers))) if headers else st.just(set()))
    delivery = Delivery(
        body=body,
        headers=CaseInsensitiveMapping({k: v for k, v in headers.items() if k not in dropped}),
        url=URL,
    )

    try:
        mapped = vendor.parse(delivery, dict(hook.config))
    except MappingError as exc:
        reason = str(exc)
        assert reason  # the dead letter needs a reason
        return

    assert isinstance(mapped, Mapped)
    for record in mapped.events:
        validates_or_is_refused(record, WorkEventIn)
    for record in mapped.usage:
        validates_or_is_refused(record, TokenUsageIn)


def counts(source: Source) -> tuple[int, int]:
    records = (
        WorkEvent.objects.filter(source=source).count()
        + TokenUsage.objects.filter(source=source).count()
    )
    return records, DeadLetter.objects.filter(source=source).count()


@pytest.mark.django_db
@pytest.mark.parametrize("hook", each_hook)
@settings(
    max_examples=ENDPOINT_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_signed_mutated_delivery_is_stored_whole_ignored_or_dead_lettered(
    client: Client, settings: Any, hook: Hook, data: Any
) -> None:
    # Examples share the test's transaction: the source is made once, and each
    # example is judged by what it changed.
    source = Source.objects.filter(kind=hook.vendor, slug=hook.slug).first() or source_for(hook)
    sample = data.draw(st.sampled_from(samples(hook)), label="sample")
    body = data.draw(payloads(hook, sample[1]), label="body")
    records_before, letters_before = counts(source)

    response = hook.deliver(client, settings, sample, body=body)

    records_after, letters_after = counts(source)
    if response.status_code == 401 and hook.vendor in TIME_IN_BODY:
        assert orjson.loads(response.content)["type"] == "not_authenticated"
        assert (records_after, letters_after) == (records_before, letters_before)
        return
    assert response.status_code in (200, 202), response.content[:300]
    if hook.soap:
        assert b"<Ack>true</Ack>" in response.content
        outcome = "dead_letter" if letters_after > letters_before else "acknowledged"
    else:
        answer = orjson.loads(response.content)
        outcome = answer["status"]
        assert outcome in ("stored", "ignored", "dead_letter"), answer
    if outcome == "dead_letter":
        assert response.status_code in (200, 202)
        assert letters_after == letters_before + 1
        assert records_after == records_before  # nothing of it was stored
        letter = DeadLetter.objects.filter(source=source).order_by("-pk").first()
        assert letter is not None
        assert letter.error
        if not hook.soap:
            assert answer["detail"]
    elif outcome == "ignored":
        assert (records_after, letters_after) == (records_before, letters_before)
    elif outcome == "stored":
        created = [
            item
            for item in answer.get("events", []) + answer.get("usage", [])
            if item["status"] == "created"
        ]
        assert all(
            item["status"] in ("created", "duplicate", "conflict")
            for item in answer.get("events", []) + answer.get("usage", [])
        ), answer
        assert records_after == records_before + len(created)
        assert letters_after == letters_before
    else:  # SOAP acknowledgement of a stored or ignored message
        assert letters_after == letters_before


def hook_for(vendor: str) -> Hook:
    return next(hook for hook in HOOKS if hook.vendor == vendor)


@pytest.mark.django_db
def test_a_nul_quoted_into_an_ignored_reason_is_counted_not_a_500(
    client: Client, settings: Any
) -> None:
    # PostgreSQL text refuses NUL; the reason quotes the vendor's event type.
    hook = hook_for("pagerduty")
    source = source_for(hook)
    payload = orjson.loads(fixture("pagerduty", hook.valid[1]))
    payload["event"]["event_type"] = "incident.\x00unknown"

    response = hook.deliver(client, settings, body=orjson.dumps(payload))

    assert response.status_code == 200, response.content[:300]
    assert orjson.loads(response.content)["status"] == "ignored"
    assert ignored_count(source) == 1


@pytest.mark.django_db
def test_a_nul_quoted_into_a_refusal_is_kept_as_a_dead_letter_not_a_500(
    client: Client, settings: Any
) -> None:
    hook = hook_for("generic")
    source = source_for(hook)

    # The ledger refuses the record; the refusal names the field, a NUL.
    body = orjson.dumps(
        {
            "id": "nul-1",
            "type": "deploy.succeeded",
            "occurred_at": "2026-11-01T12:00:00Z",
            "\x00": 1,
        }
    )

    response = hook.deliver(client, settings, body=body)

    assert response.status_code == 202, response.content[:300]
    (letter,) = DeadLetter.objects.filter(source=source)
    assert "\\x00" in letter.error
    assert counts(source) == (0, 1)
