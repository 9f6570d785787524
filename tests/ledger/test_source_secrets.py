"""Webhook secrets at rest: encrypted with AWU_SECRETS_KEY (else SECRET_KEY)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from ledger import secrets


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


def test_the_setting_is_read_from_the_environment() -> None:
    env = {**os.environ, "AWU_SECRETS_KEY": "from-the-environment"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         " print(settings.AWU_SECRETS_KEY)"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "from-the-environment"
