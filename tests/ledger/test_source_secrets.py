"""Webhook secrets at rest: encrypted with AWU_SECRETS_KEY (else SECRET_KEY)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from _pytest.logging import LogCaptureFixture
from django.test import override_settings

from ledger import clock, secrets
from ledger.models import Source


def test_a_secret_is_stored_encrypted_and_read_back() -> None:
    token = secrets.encrypt("whsec-1")
    assert "whsec-1" not in token
    assert secrets.decrypt(token) == "whsec-1"


@override_settings(AWU_SECRETS_KEY="secrets-key-a")
def test_the_secrets_key_rather_than_secret_key_encrypts_when_set() -> None:
    token = secrets.encrypt("whsec-2")
    with override_settings(SECRET_KEY="another-secret-key-" * 3):
        assert secrets.decrypt(token) == "whsec-2"
    with override_settings(AWU_SECRETS_KEY="secrets-key-b"):
        assert secrets.decrypt(token) is None


@pytest.mark.parametrize("token", ["", "not-a-fernet-token"])
def test_an_unreadable_token_is_no_secret(token: str) -> None:
    assert secrets.decrypt(token) is None


@pytest.mark.django_db
@override_settings(AWU_NOW="2026-03-01T12:00:00Z")
def test_a_rotated_secret_stays_live_one_day_from_the_clock_not_the_wall_clock() -> None:
    source = Source.objects.create(kind="github", slug="acme")
    secrets.source_set_secret(source=source, secret="whsec-old")
    secrets.source_set_secret(
        source=source, secret="whsec-new", keep_previous_for=timedelta(days=1)
    )
    assert source.previous_secret_expires_at == datetime(2026, 3, 2, 12, tzinfo=UTC)
    with override_settings(AWU_NOW="2026-03-02T11:59:59Z"):
        assert secrets.live_secrets(source, now=clock.now()) == ["whsec-new", "whsec-old"]
    with override_settings(AWU_NOW="2026-03-02T12:00:00Z"):
        assert secrets.live_secrets(source, now=clock.now()) == ["whsec-new"]


@pytest.mark.django_db
def test_a_secret_set_under_another_key_is_logged_by_source_and_not_read_as_none(
    caplog: LogCaptureFixture,
) -> None:
    with override_settings(AWU_SECRETS_KEY="secrets-key-a"):
        source = Source.objects.create(kind="github", slug="acme")
        secrets.source_set_secret(source=source, secret="whsec-3")
    with (
        override_settings(AWU_SECRETS_KEY="secrets-key-b"),
        caplog.at_level("ERROR", logger="ledger.secrets"),
        pytest.raises(secrets.UnreadableSecret),
    ):
        secrets.live_secrets(source, now=clock.now())
    assert "signing secret of source github:acme cannot be decrypted" in caplog.text
    assert "whsec-3" not in caplog.text


def test_the_setting_is_read_from_the_environment() -> None:
    env = {**os.environ, "AWU_SECRETS_KEY": "from-the-environment"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         " print(settings.AWU_SECRETS_KEY)"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "from-the-environment"
