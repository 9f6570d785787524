"""The OpenID Connect client (Authlib), configured from the settings.

Authlib does what a relying party must: discovery from the provider's metadata,
state and nonce kept in the session and used once, PKCE, the code exchange, and
the ID token's validation (signature against the provider's keys, issuer,
audience, expiry, nonce). One client per configuration, so a settings change
(or a test's override) takes effect without a restart.
"""

from __future__ import annotations

import functools
from typing import Any

from authlib.integrations.django_client import OAuth
from django.conf import settings

NAME = "idp"


def oidc_enabled() -> bool:
    return bool(settings.AWU_OIDC_METADATA_URL)


@functools.lru_cache(maxsize=4)
def _client(metadata_url: str, client_id: str, client_secret: str, scopes: str) -> Any:
    oauth = OAuth()
    oauth.register(
        NAME,
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=metadata_url,
        client_kwargs={"scope": scopes, "code_challenge_method": "S256", "timeout": 10},
    )
    return oauth.create_client(NAME)


def oidc_client() -> Any:
    return _client(
        settings.AWU_OIDC_METADATA_URL,
        settings.AWU_OIDC_CLIENT_ID,
        settings.AWU_OIDC_CLIENT_SECRET,
        settings.AWU_OIDC_SCOPES,
    )
