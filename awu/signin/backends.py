"""The authentication backend of users signed in through the identity provider.

It authenticates nobody by itself (the provider did, in awu.signin.views); it
only restores the user of a session and answers permissions like Django's
ModelBackend. It stays in AUTHENTICATION_BACKENDS when local passwords are
turned off (AWU_PASSWORD_LOGIN=false), which removes ModelBackend.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest


class OidcSessionBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        return None
