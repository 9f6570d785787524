"""Secrets never reach a log record, an error body or a dead letter.

Every logger is captured at DEBUG (SQL with its parameters included) while the
service refuses wrong and revoked API keys, refuses webhooks with a wrong
signature, rotates a source secret, keeps a dead letter, fails a vendor usage
import and fails inside a view (a 500). Then no secret value — API keys, webhook
secrets and the signatures or tokens sent with a delivery, vendor admin keys,
SECRET_KEY, Authorization header values — may appear in any record or in any
response body; nor may a secret appear in what a dead letter keeps.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from io import StringIO
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.test import Client

from integrations.models import DeadLetter
from integrations.tasks import import_usage_reports
from ledger import auth
from ledger.models import Source
from tests.integrations.usage_reports.test_clients import ANTHROPIC_USAGE, FakeVendorApi, Reply
from tests.integrations.webhooks.test_webhook_contract import (
    HOOKS,
    NOT_A_LIVE_SECRET,
    Hook,
    source_for,
)
from tests.ledger import factories
from tests.reliability.security_helpers import every_log_record, leaks, rendered

pytestmark = pytest.mark.django_db

# Header names whose values are credentials (a token, or a signature made with one).
_CREDENTIAL_WORDS = ("SIGNATURE", "TOKEN", "AUTHORIZATION", "API_KEY", "COOKIE")


def sent_credentials(response: Any) -> list[str]:
    """The credential values a test request carried: such headers and query tokens."""
    meta = response.wsgi_request.META
    values = [
        str(value)
        for name, value in meta.items()
        if name.startswith("HTTP_")
        and any(word in name for word in _CREDENTIAL_WORDS)
        and not name.endswith("TIMESTAMP")
    ]
    for name, given in parse_qs(meta.get("QUERY_STRING", "")).items():
        if name.lower() in ("token", "key", "secret", "signature"):
            values.extend(given)
    return values


def assert_nothing_leaked(
    records: list[Any], secret_values: list[str], bodies: list[bytes] = ()
) -> None:
    values = [*secret_values, django_settings.SECRET_KEY]
    texts = [rendered(record) for record in records]
    texts += [body.decode("utf-8", "replace") for body in bodies]
    found = leaks(texts, values)
    assert not found, f"secret values found: {found[:3]}"


def test_wrong_and_revoked_api_keys_are_neither_logged_nor_echoed(
    client: Client, caplog: Any, settings: Any
) -> None:
    settings.AWU_NOW = factories.NOW
    row, revoked = auth.api_key_create(name="old", scopes=["admin"])
    auth.api_key_revoke(key_id=row.pk)
    unknown = auth.KEY_PREFIX + secrets.token_urlsafe(32)
    overlong = auth.KEY_PREFIX + secrets.token_urlsafe(120)
    headers = [
        f"Bearer {revoked}",
        f"Bearer {unknown}",
        f"Bearer {overlong}",
        f"Token {unknown}",
        f"Basic {unknown}",
    ]
    responses = []

    with every_log_record(caplog) as records:
        for header in headers:
            responses.append(
                client.post(
                    "/api/v1/events",
                    data=orjson.dumps(factories.event()),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=header,
                )
            )
            responses.append(client.get("/api/v1/reports/efficiency", HTTP_AUTHORIZATION=header))

    assert {r.status_code for r in responses} == {401}
    assert any(r.name == "django.request" for r in records)  # the capture works
    assert_nothing_leaked(
        records, [revoked, unknown, overlong, *headers], [r.content for r in responses]
    )


@pytest.mark.parametrize("hook", [pytest.param(h, id=h.vendor) for h in HOOKS])
def test_a_webhook_with_a_wrong_signature_logs_neither_secret_nor_signature(
    client: Client, caplog: Any, settings: Any, hook: Hook
) -> None:
    source_for(hook)

    with every_log_record(caplog) as records:
        response = hook.deliver(client, settings, secret=NOT_A_LIVE_SECRET)

    assert response.status_code == 401
    sent = sent_credentials(response)
    assert sent, "the delivery carried no credential to look for"
    assert_nothing_leaked(
        records, [hook.secret, hook.old_secret, NOT_A_LIVE_SECRET, *sent], [response.content]
    )


def test_rotating_a_source_secret_logs_neither_secret(caplog: Any) -> None:
    first, second = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    out = StringIO()

    with every_log_record(caplog) as records:
        call_command("create_source", "github", "rotating", f"--secret={first}", stdout=out)
        call_command(
            "create_source",
            "github",
            "rotating",
            "--secret-stdin",
            "--keep-previous-hours",
            "24",
            stdin=StringIO(second + "\n"),
            stdout=out,
        )

    source = Source.objects.get(slug="rotating")
    assert source.previous_secret_encrypted  # the rotation happened
    assert any(r.name == "django.db.backends" for r in records)  # SQL was captured
    assert_nothing_leaked(records, [first, second], [out.getvalue().encode()])
    stored = [source.secret_encrypted, source.previous_secret_encrypted]
    assert not leaks(stored, [first, second])


@pytest.mark.parametrize("hook", [pytest.param(h, id=h.vendor) for h in HOOKS])
def test_a_dead_letter_keeps_the_body_but_no_secret_or_token(
    client: Client, caplog: Any, settings: Any, hook: Hook
) -> None:
    source_for(hook)

    with every_log_record(caplog) as records:
        response = hook.deliver(client, settings, body=hook.garbage)

    (letter,) = DeadLetter.objects.all()
    assert bytes(letter.body) == hook.garbage
    sent = sent_credentials(response)
    assert_nothing_leaked(records, [hook.secret, hook.old_secret], [response.content])
    # The letter keeps the signature header, so the SQL that writes it carries it;
    # SQL is logged only with DEBUG on (never in production). No other record may.
    application = [r for r in records if r.name != "django.db.backends"]
    assert_nothing_leaked(application, sent, [response.content])
    # Kept for replay: signature headers may stay (an HMAC does not reveal the
    # secret); the secret itself, in a header (GitLab) or the URL (Salesforce), not.
    kept = [letter.url, orjson.dumps(letter.headers).decode(), letter.error]
    assert not leaks(kept, [hook.secret, hook.old_secret])


ADMIN_KEY = "sk-ant-admin01-" + secrets.token_urlsafe(40)


@pytest.fixture
def refusing_vendor(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[FakeVendorApi]:
    """Anthropic's admin API refusing the key, and echoing it back as some APIs do."""
    settings.AWU_NOW = "2025-08-10T06:00:00Z"
    server = FakeVendorApi()
    echo = orjson.dumps(
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"invalid x-api-key {ADMIN_KEY}"},
        }
    )
    server.serve(ANTHROPIC_USAGE, None, Reply(401, echo))
    server.thread.start()
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_ADMIN_API_KEY", raising=False)
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_failing_usage_import_does_not_reveal_the_vendor_admin_key(
    refusing_vendor: FakeVendorApi, caplog: Any
) -> None:
    with every_log_record(caplog) as records:
        with pytest.raises(CommandError) as from_command:
            call_command(
                "import_usage",
                "anthropic",
                "--from",
                "2025-08-01",
                "--to",
                "2025-08-02",
                stdout=StringIO(),
                stderr=StringIO(),
            )
        with pytest.raises(Exception) as from_task:  # noqa: PT011 - the task re-raises as is
            import_usage_reports()

    assert refusing_vendor.seen[0].headers["x-api-key"] == ADMIN_KEY  # the key was sent
    assert "401" in str(from_command.value)
    assert any("usage import failed" in r.getMessage() for r in records)
    assert_nothing_leaked(
        records, [ADMIN_KEY], [str(from_command.value).encode(), str(from_task.value).encode()]
    )


def test_a_server_error_answers_the_error_shape_and_logs_no_credentials(
    caplog: Any, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.reliability.security_helpers"
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    _, key = auth.api_key_create(name="caller", scopes=["admin"])
    session = secrets.token_urlsafe(24)
    browser = Client(raise_request_exception=False)
    browser.cookies["sessionid"] = session

    with every_log_record(caplog) as records:
        response = browser.get("/test-only/fails", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 500
    assert orjson.loads(response.content)["type"] == "server_error"
    assert b"Traceback" not in response.content
    assert b"RuntimeError" not in response.content
    assert any(r.name == "django.request" and r.levelname == "ERROR" for r in records)
    assert_nothing_leaked(records, [key, f"Bearer {key}", session], [response.content])
