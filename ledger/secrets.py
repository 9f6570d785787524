"""Webhook secrets at rest.

Signature checks need the secret itself (an HMAC cannot be checked against a
hash), so source secrets are encrypted, not hashed: Fernet (AES-128-CBC with
HMAC-SHA256) from the ``cryptography`` package, with a key derived from
AWU_SECRETS_KEY, or from SECRET_KEY when that is not set. API keys, which only
need to be recognised, are hashed instead (ledger.auth).
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction

from ledger import audit, clock
from ledger.models import Source

logger = logging.getLogger(__name__)


class UnreadableSecret(Exception):
    """A source has a stored secret that the current key cannot decrypt."""


def _fernet() -> Fernet:
    material = (getattr(settings, "AWU_SECRETS_KEY", "") or settings.SECRET_KEY).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"awu-source-secrets").derive(
        material
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str | None:
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def source_set_secret(
    *, source: Source, secret: str, keep_previous_for: timedelta | None = None, reason: str = ""
) -> Source:
    """Set a new signing secret. With ``keep_previous_for``, the old one stays live
    that long, so deliveries signed during the vendor-side switch still verify.
    Audited (the secrets themselves never are)."""
    had_secret = bool(source.secret_encrypted)
    if keep_previous_for and source.secret_encrypted:
        source.previous_secret_encrypted = source.secret_encrypted
        # The clock, not the wall clock: live_secrets compares against clock.now().
        source.previous_secret_expires_at = clock.now() + keep_previous_for
    else:
        source.previous_secret_encrypted = ""
        source.previous_secret_expires_at = None
    source.secret_encrypted = encrypt(secret)
    with transaction.atomic():
        source.save(
            update_fields=[
                "secret_encrypted",
                "previous_secret_encrypted",
                "previous_secret_expires_at",
            ]
        )
        audit.record(
            "source.secret_rotated" if had_secret else "source.secret_set",
            obj=source,
            before={"secret_set": had_secret},
            after={"previous_secret_live_until": source.previous_secret_expires_at},
            reason=reason,
        )
    return source


def live_secrets(source: Source, *, now: datetime) -> list[str]:
    """The secrets a delivery may be signed with right now (one, or two in rotation).

    A stored secret that cannot be decrypted is logged (naming the source, never
    the secret). Raises UnreadableSecret when the source has a secret and none
    can be read, which is not the same as having none.
    """
    stored = [("current", source.secret_encrypted)]
    expires = source.previous_secret_expires_at
    if source.previous_secret_encrypted and expires is not None and now < expires:
        stored.append(("previous", source.previous_secret_encrypted))
    live: list[str] = []
    unreadable = False
    for which, token in stored:
        if not token:
            continue
        secret = decrypt(token)
        if secret is None:
            unreadable = True
            logger.error(
                "the %s signing secret of source %s cannot be decrypted with the current "
                "key (AWU_SECRETS_KEY, else SECRET_KEY, changed since it was set); set it again",
                which,
                source,
            )
        else:
            live.append(secret)
    if unreadable and not live:
        raise UnreadableSecret(str(source))
    return live
