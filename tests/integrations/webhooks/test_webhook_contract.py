"""The contract every vendor webhook keeps, checked once per vendor, real database.

Whatever the vendor, through POST /api/v1/hooks/<vendor>/<source>: a delivery that
does not authenticate (wrong or missing signature, or signed too long ago) is
refused with 401 and leaves nothing behind; one that carries nothing the ledger
records is acknowledged and counted; a redelivery is a duplicate; an authentic body
that cannot be mapped becomes a dead letter; both secrets live during a
rotation verify; a stored secret the server's key cannot decrypt is refused
and logged as such; and what the vendor's ``sign`` sends is what its ``verify``
accepts, for that secret only. Each vendor's own module keeps what is particular to it.

The table below says, per vendor, how to sign a delivery (each vendor test module's
``deliver``), one recorded delivery that stores records, and the recorded
deliveries that are acknowledged without storing anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _pytest.logging import LogCaptureFixture
from django.test import Client
from django.utils.datastructures import CaseInsensitiveMapping
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks.base import Delivery, MappingError, SignatureError
from integrations.webhooks.registry import load_vendors
from ledger.schemas import TokenUsageIn, WorkEventIn
from tests.integrations.webhooks import (
    FIXTURES,
    answer,
    dead_letters,
    events_of,
    fixture,
    ignored_count,
    make_source,
    nothing_stored,
    post_hook,
    statuses,
    usage_of,
)
from tests.integrations.webhooks import test_docusign_webhook as docusign
from tests.integrations.webhooks import test_generic_webhook as generic
from tests.integrations.webhooks import test_github_webhook as github
from tests.integrations.webhooks import test_gitlab_webhook as gitlab
from tests.integrations.webhooks import test_hubspot_webhook as hubspot
from tests.integrations.webhooks import test_jira_webhook as jira
from tests.integrations.webhooks import test_linear_webhook as linear
from tests.integrations.webhooks import test_pagerduty_webhook as pagerduty
from tests.integrations.webhooks import test_salesforce_webhook as salesforce
from tests.integrations.webhooks import test_zendesk_webhook as zendesk
from tests.integrations.webhooks.mapping import SLOW_OK, json_values, maps_or_refuses

pytestmark = pytest.mark.django_db
NOT_A_LIVE_SECRET = "not-a-live-secret"

# send(client, settings, body, *, secret, kind, age): one signed delivery. ``kind`` is
# the event-kind header for vendors that send one; ``age`` is how long before the
# receiver's clock the delivery was signed (vendors that sign no time ignore it).
Send = Callable[..., Any]


@dataclass(frozen=True)
class Hook:
    vendor: str
    slug: str
    secret: str
    old_secret: str
    send: Send
    # A recorded delivery, as (event kind or "", fixture name), and what it stores.
    valid: tuple[str, str]
    valid_records: int
    # Recorded deliveries that are authentic and well formed but record nothing.
    ignored: tuple[tuple[str, str], ...]
    # What the vendor sends alongside its signature, to be sent without it.
    unsigned_headers: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # Vendors that name the event kind in a header: that header, and the kind of
    # each recorded delivery by the first part of its fixture's name.
    kind_header: str = ""
    kinds: dict[str, str] = field(default_factory=dict)
    # The window around the clock a signed time must fall in, and the header (or
    # field) the refusal names; None for vendors that sign no time.
    replay_window: timedelta | None = None
    replay_names: str = ""
    # An authentic body that cannot be mapped (the vendor module's own example).
    garbage: bytes = b'{"event": '
    # Salesforce wants its SOAP Ack for everything it should not retry.
    soap: bool = False

    def deliver(
        self,
        client: Client,
        settings: Any,
        sample: tuple[str, str] | None = None,
        *,
        body: bytes | None = None,
        secret: str | None = None,
        age: timedelta = timedelta(0),
    ) -> Any:
        kind, name = sample or self.valid
        return self.send(
            client,
            settings,
            fixture(self.vendor, name) if body is None else body,
            secret=secret or self.secret,
            kind=kind,
            age=age,
        )


HOOKS = [
    Hook(
        vendor="github",
        garbage=b"{not json",
        slug=github.SLUG,
        secret=github.SECRET,
        old_secret=github.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: github.deliver(c, kind, body, secret=secret),
        valid=("pull_request", "pull_request.merged.json"),
        valid_records=1,
        ignored=(("ping", "ping.json"), ("pull_request", "pull_request.closed.json")),
        unsigned_headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": github.DELIVERY},
        kind_header="X-GitHub-Event",
        kinds={
            name: name
            for name in (
                "pull_request",
                "push",
                "deployment_status",
                "ping",
                "pull_request_review",
                "issues",
            )
        },
    ),
    Hook(
        vendor="gitlab",
        garbage=b"\x00\x01 not json",
        slug=gitlab.SLUG,
        secret=gitlab.SECRET,
        old_secret=gitlab.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: gitlab.deliver(c, kind, body, token=secret),
        valid=("Merge Request Hook", "merge_request.merge.json"),
        valid_records=1,
        ignored=(
            ("Pipeline Hook", "pipeline.json"),
            ("Push Hook", "push.json"),
            ("Issue Hook", "push.json"),  # an event kind the mapping does not know
        ),
        unsigned_headers={"X-Gitlab-Event": "Merge Request Hook", "Idempotency-Key": gitlab.KEY},
        kind_header="X-Gitlab-Event",
        kinds={
            "merge_request": "Merge Request Hook",
            "push": "Push Hook",
            "deployment": "Deployment Hook",
            "pipeline": "Pipeline Hook",
        },
    ),
    Hook(
        vendor="docusign",
        slug=docusign.SLUG,
        secret=docusign.SECRET,
        old_secret=docusign.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: docusign.deliver(c, s, body, secret),
        valid=("", "envelope_completed.json"),
        valid_records=1,
        ignored=(("", "envelope_sent.json"), ("", "recipient_completed.json")),
    ),
    Hook(
        vendor="jira",
        garbage=b"<html>oops</html>",
        slug=jira.SLUG,
        secret=jira.SECRET,
        old_secret=jira.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: jira.deliver(
            c, body, "1606480436302-10124", secret=secret
        ),
        valid=("", "issue_updated.resolved.json"),
        valid_records=1,
        ignored=(("", "issue_created.json"), ("", "issue_updated.published.json")),
        unsigned_headers={"X-Atlassian-Webhook-Identifier": "1606480436302-10124"},
        config={"support_projects": ["SUP"]},
    ),
    Hook(
        vendor="pagerduty",
        garbage=b"[1, 2",
        slug=pagerduty.SLUG,
        secret=pagerduty.SECRET,
        old_secret=pagerduty.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: pagerduty.deliver(c, body, secret),
        valid=("", "incident.resolved.json"),
        valid_records=1,
        ignored=(
            ("", "incident.annotated.plain.json"),
            ("", "incident.priority_updated.json"),
            ("", "service.updated.json"),
        ),
    ),
    Hook(
        vendor="linear",
        garbage=b"not json at all",
        slug=linear.SLUG,
        secret=linear.SECRET,
        old_secret=linear.OLD_SECRET,
        # The body carries the signed time: the clock moves instead.
        send=lambda c, s, body, *, secret, kind, age: linear.deliver(
            c, s, body, secret=secret, late_by=timedelta(seconds=2) + age
        ),
        valid=("", "issue.update.completed.json"),
        valid_records=1,
        ignored=(("", "comment.create.json"), ("", "issue.update.title.json")),
        unsigned_headers={"Linear-Delivery": linear.DELIVERY, "Linear-Event": "Issue"},
        replay_window=timedelta(minutes=1),
        replay_names="webhookTimestamp",
    ),
    Hook(
        vendor="hubspot",
        garbage=b"[{]",
        slug=hubspot.SLUG,
        secret=hubspot.SECRET,
        old_secret=hubspot.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: hubspot.deliver(
            c, s, body, secret=secret, sent_at=hubspot.NOW - age
        ),
        valid=("", "deal_stage_changes.json"),
        valid_records=2,
        ignored=(("", "documented_example.json"),),
        replay_window=timedelta(minutes=5),
        replay_names="X-HubSpot-Request-Timestamp",
    ),
    Hook(
        vendor="zendesk",
        garbage=b"ticket solved!",
        slug=zendesk.SLUG,
        secret=zendesk.SECRET,
        old_secret=zendesk.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: zendesk.deliver(
            c, s, body, secret=secret, sent_at=zendesk.NOW - age
        ),
        valid=("", "ticket_solved.json"),
        valid_records=1,
        ignored=(("", "user_active_changed.json"),),  # an event type the mapping does not use
        replay_window=timedelta(minutes=5),
        replay_names="X-Zendesk-Webhook-Signature-Timestamp",
    ),
    Hook(
        vendor="generic",
        garbage=b"{{{",
        slug=generic.SLUG,
        secret=generic.SECRET,
        old_secret=generic.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: generic.deliver(
            c, s, body, secret=secret, sent_at=generic.NOW - age
        ),
        valid=("", "batch.json"),
        valid_records=3,  # two events and one usage record
        ignored=(),
        replay_window=timedelta(minutes=5),
        replay_names="X-AWU-Timestamp",
    ),
    Hook(
        vendor="salesforce",
        garbage=b"<soapenv:Envelope",
        slug=salesforce.SLUG,
        secret=salesforce.SECRET,
        old_secret=salesforce.OLD_SECRET,
        send=lambda c, s, body, *, secret, kind, age: salesforce.deliver(c, s, body, token=secret),
        valid=("", "opportunity_stage_changed.xml"),
        valid_records=2,
        ignored=(("", "account_notification.xml"),),
        config={"organization_id": salesforce.ORG},
        soap=True,
    ),
]


def each_hook(hooks: list[Hook] = HOOKS) -> list[Any]:
    return [pytest.param(hook, id=hook.vendor) for hook in hooks]


def source_for(hook: Hook) -> Any:
    return make_source(
        hook.vendor, hook.slug, hook.secret, previous=hook.old_secret, config=hook.config
    )


def records_of(source: Any) -> int:
    return len(events_of(source)) + len(usage_of(source))


def acknowledged(hook: Hook, response: Any) -> bool:
    if hook.soap:
        return response.status_code == 200 and b"<Ack>true</Ack>" in response.content
    return response.status_code == 200


@pytest.mark.parametrize(
    ("hook", "sample"),
    [
        pytest.param(hook, sample, id=f"{hook.vendor}-{sample[1]}-{sample[0] or 'body'}")
        for hook in HOOKS
        for sample in hook.ignored
    ],
)
def test_deliveries_that_record_nothing_are_acknowledged_and_counted(
    client: Client, settings: Any, hook: Hook, sample: tuple[str, str]
) -> None:
    source = source_for(hook)
    response = hook.deliver(client, settings, sample)
    assert acknowledged(hook, response), response.content
    if not hook.soap:
        assert answer(response)["status"] == "ignored"
    assert ignored_count(source) == 1
    assert nothing_stored(source)


# verify and parse alone, without the endpoint: what every vendor module keeps.

URL = "https://ledger.example/api/v1/hooks/{vendor}/acme"


def _signing_time(hook: Hook, body: bytes) -> datetime:
    # Linear signs the time inside the body: sign "now" as the recorded delivery's time.
    return linear.sent_at(body) if hook.vendor == "linear" else datetime(2026, 11, 4, tzinfo=UTC)


def _signed_delivery(hook: Hook, body: bytes, secret: str, now: datetime) -> Delivery:
    """A delivery carrying what the vendor's ``sign`` adds, as the webhook view reads it."""
    url = URL.format(vendor=hook.vendor)
    sent = load_vendors()[hook.vendor].sign(body, secret, now=now, url=url)
    url = f"{url}?{sent.query}" if sent.query else url
    headers = {**hook.unsigned_headers, **sent.headers}
    return Delivery(body=body, headers=CaseInsensitiveMapping(headers), url=url)


def test_every_registered_vendor_is_in_the_table() -> None:
    assert sorted(hook.vendor for hook in HOOKS) == sorted(load_vendors())


@pytest.mark.parametrize("hook", each_hook())
def test_vendor_is_registered_under_its_slug(hook: Hook) -> None:
    assert load_vendors()[hook.vendor].slug == hook.vendor


SIGNERS = [
    *[pytest.param(hook, hook.secret, NOT_A_LIVE_SECRET, id=hook.vendor) for hook in HOOKS],
    # GitLab signs with the webhook headers when the secret is a whsec_ signing token.
    pytest.param(
        next(hook for hook in HOOKS if hook.vendor == "gitlab"),
        gitlab.SIGNING_TOKEN,
        gitlab.OLD_SIGNING_TOKEN,
        id="gitlab-signing-token",
    ),
]


@pytest.mark.parametrize(("hook", "secret", "other_secret"), SIGNERS)
def test_verify_accepts_what_sign_produced_and_only_for_that_secret(
    hook: Hook, secret: str, other_secret: str
) -> None:
    body = fixture(hook.vendor, hook.valid[1])
    now = _signing_time(hook, body)
    vendor = load_vendors()[hook.vendor]
    vendor.verify(_signed_delivery(hook, body, secret, now), [secret], now)
    with pytest.raises(SignatureError, match="match"):
        vendor.verify(_signed_delivery(hook, body, other_secret, now), [secret], now)


@pytest.mark.parametrize(("hook", "secret", "other_secret"), SIGNERS)
def test_either_of_two_live_secrets_verifies_during_rotation(
    hook: Hook, secret: str, other_secret: str
) -> None:
    body = fixture(hook.vendor, hook.valid[1])
    now = _signing_time(hook, body)
    vendor = load_vendors()[hook.vendor]
    for signer in (secret, other_secret):
        vendor.verify(_signed_delivery(hook, body, signer, now), [other_secret, secret], now)


@pytest.mark.parametrize("hook", each_hook())
def test_missing_signature_is_refused_by_verify(hook: Hook) -> None:
    body = fixture(hook.vendor, hook.valid[1])
    unsigned = Delivery(
        body=body,
        headers=CaseInsensitiveMapping(hook.unsigned_headers),
        url=URL.format(vendor=hook.vendor),
    )
    with pytest.raises(SignatureError, match="missing"):
        load_vendors()[hook.vendor].verify(unsigned, [hook.secret], _signing_time(hook, body))


def recorded(hook: Hook) -> list[str]:
    return sorted(p.name for p in (FIXTURES / hook.vendor).iterdir() if p.suffix != ".md")


@pytest.mark.parametrize(
    ("hook", "name"),
    [
        pytest.param(hook, name, id=f"{hook.vendor}-{name}")
        for hook in HOOKS
        for name in recorded(hook)
    ],
)
def test_every_recorded_delivery_maps_to_records_the_ingest_api_accepts(
    hook: Hook, name: str
) -> None:
    headers = dict(hook.unsigned_headers)
    if hook.kind_header:
        headers[hook.kind_header] = hook.kinds[name.split(".")[0]]
    delivery = Delivery(body=fixture(hook.vendor, name), headers=CaseInsensitiveMapping(headers))
    mapped = load_vendors()[hook.vendor].parse(delivery, hook.config)
    source = f"{hook.vendor}-acme"
    for event in mapped.events:
        WorkEventIn.model_validate({**event, "source": source})
    for usage in mapped.usage:
        TokenUsageIn.model_validate({**usage, "source": source})


RANDOM_BODIES = st.binary(max_size=200) | json_values().map(lambda v: json.dumps(v).encode())


@pytest.mark.parametrize("hook", each_hook([hook for hook in HOOKS if not hook.soap]))
@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(body=RANDOM_BODIES, data=st.data())
def test_random_bodies_map_to_records_without_source_or_raise_mapping_error(
    hook: Hook, body: bytes, data: st.DataObject
) -> None:
    headers = dict(hook.unsigned_headers)
    if hook.kind_header:
        headers[hook.kind_header] = data.draw(st.sampled_from(sorted(hook.kinds.values())))
    delivery = Delivery(body=body, headers=CaseInsensitiveMapping(headers))
    result = maps_or_refuses(lambda: load_vendors()[hook.vendor].parse(delivery, hook.config))
    if result is not None:
        assert all("source" not in record for record in result.events + result.usage)


@pytest.mark.parametrize("hook", each_hook([hook for hook in HOOKS if not hook.soap]))
@pytest.mark.parametrize("body", [b"{not json", b"\x00", b"[1,", b"<html>"])
def test_body_that_is_not_json_is_a_mapping_error(hook: Hook, body: bytes) -> None:
    delivery = Delivery(body=body, headers=CaseInsensitiveMapping(hook.unsigned_headers))
    with pytest.raises(MappingError, match="not valid JSON"):
        load_vendors()[hook.vendor].parse(delivery, hook.config)


@pytest.mark.parametrize("hook", each_hook())
def test_wrong_signature_is_refused_and_nothing_is_stored(
    client: Client, settings: Any, hook: Hook
) -> None:
    source = source_for(hook)
    response = hook.deliver(client, settings, secret=NOT_A_LIVE_SECRET)
    assert response.status_code == 401
    assert answer(response)["type"] == "not_authenticated"
    assert nothing_stored(source)
    assert not dead_letters(source)


@pytest.mark.parametrize("hook", each_hook())
def test_missing_signature_is_refused_and_nothing_is_stored(
    client: Client, settings: Any, hook: Hook
) -> None:
    source = source_for(hook)
    body = fixture(hook.vendor, hook.valid[1])
    response = post_hook(client, hook.vendor, hook.slug, body, hook.unsigned_headers)
    assert response.status_code == 401
    assert nothing_stored(source)
    assert not dead_letters(source)


@pytest.mark.parametrize("hook", each_hook([hook for hook in HOOKS if hook.replay_window]))
def test_delivery_signed_outside_the_window_is_refused_as_a_replay(
    client: Client, settings: Any, hook: Hook
) -> None:
    assert hook.replay_window is not None
    source = source_for(hook)
    response = hook.deliver(client, settings, age=hook.replay_window + timedelta(minutes=1))
    assert response.status_code == 401
    assert hook.replay_names in answer(response)["detail"]
    assert nothing_stored(source)


@pytest.mark.parametrize("hook", each_hook())
def test_redelivery_is_answered_duplicate_and_stored_once(
    client: Client, settings: Any, hook: Hook
) -> None:
    source = source_for(hook)
    first = hook.deliver(client, settings)
    # Vendors that sign a time sign the retry anew; it still falls in the window.
    again = hook.deliver(client, settings, age=timedelta(seconds=30))
    assert acknowledged(hook, again), again.content
    if not hook.soap:
        assert statuses(first) == ["created"] * hook.valid_records
        assert statuses(again) == ["duplicate"] * hook.valid_records
    assert records_of(source) == hook.valid_records


@pytest.mark.parametrize("hook", each_hook())
def test_authentic_garbage_becomes_a_dead_letter(client: Client, settings: Any, hook: Hook) -> None:
    source = source_for(hook)
    response = hook.deliver(client, settings, body=hook.garbage)
    if hook.soap:
        # Salesforce retries anything but its SOAP Ack for a day; the delivery is kept.
        assert acknowledged(hook, response)
    else:
        assert response.status_code == 202
        assert answer(response)["status"] == "dead_letter"
    assert len(dead_letters(source)) == 1
    assert nothing_stored(source)


@pytest.mark.parametrize("live", ["current", "previous"])
@pytest.mark.parametrize("hook", each_hook())
def test_both_live_secrets_verify_during_rotation(
    client: Client, settings: Any, hook: Hook, live: str
) -> None:
    source = source_for(hook)
    secret = hook.secret if live == "current" else hook.old_secret
    response = hook.deliver(client, settings, secret=secret)
    assert acknowledged(hook, response), response.content
    assert records_of(source) == hook.valid_records


@pytest.mark.parametrize("hook", each_hook())
def test_a_secret_the_current_key_cannot_decrypt_is_refused_and_logged(
    client: Client, settings: Any, caplog: LogCaptureFixture, hook: Hook
) -> None:
    settings.AWU_SECRETS_KEY = "the-key-the-secrets-were-set-with"
    source = source_for(hook)
    settings.AWU_SECRETS_KEY = "a-new-key"
    with caplog.at_level("ERROR", logger="ledger.secrets"):
        response = hook.deliver(client, settings)
    assert response.status_code == 401
    assert answer(response)["type"] == "not_authenticated"
    assert "cannot be decrypted with the server's current key" in answer(response)["detail"]
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(f"source {hook.vendor}:{hook.slug} cannot be decrypted" in m for m in logged)
    assert hook.secret not in caplog.text
    assert source.secret_encrypted not in caplog.text
    assert nothing_stored(source)
