"""Users holding roles, and clients signed in as them, for the tests of who may do what."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from ledger import access
from ledger.models import Team

PASSWORD = "a long pass phrase"


def user_with(
    name: str, *grants: tuple[str, Team | None], email: str = "", password: str = PASSWORD
) -> User:
    """A user holding ``grants`` (role, team or None), granted through ledger.access."""
    user = User.objects.create_user(name, email=email, password=password)
    for role, team in grants:
        access.grant(user=user, role=role, team=team)
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
