"""What the log-in pages show: the identity provider's button, the password form."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from awu.signin.client import oidc_enabled


def signin_options(request: HttpRequest) -> dict[str, Any]:
    return {
        "oidc_enabled": oidc_enabled(),
        "oidc_label": settings.AWU_OIDC_LABEL,
        "password_login": settings.AWU_PASSWORD_LOGIN,
    }
