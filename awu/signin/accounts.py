"""Just-in-time users: the verified claims of a sign-in become a Django user.

The user is found by the provider's (issuer, subject); the first sign-in makes
one (username = the email), or adopts the local user with that email, and ties
it to the directory's Person with that email. Where ``AWU_OIDC_GROUPS`` maps
groups to roles, every sign-in sets the user's roles from the provider's groups
(awu.signin.roles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from awu.signin.models import OidcAccount
from awu.signin.roles import roles_apply
from ledger import audit
from ledger.models import AuditEvent, Person


class SignInRefused(Exception):
    """The claims do not let this person in; the message says why (for the log)."""


def _groups(claims: Mapping[str, Any]) -> list[str]:
    raw = claims.get(settings.AWU_OIDC_GROUPS_CLAIM) or []
    if isinstance(raw, str):
        raw = [raw]
    return sorted({str(g) for g in raw if isinstance(g, str | int)})


def account_sign_in(*, issuer: str, claims: Mapping[str, Any]) -> User:
    """The user for verified ID token claims, made or updated. Raises SignInRefused."""
    subject = str(claims.get("sub") or "")
    email = str(claims.get("email") or "").strip().lower()
    if not subject:
        raise SignInRefused("the ID token has no subject")
    if not email:
        raise SignInRefused("the provider sent no email (ask for the email scope)")
    if claims.get("email_verified") is False:
        raise SignInRefused(f"the provider has not verified {email}")
    groups = _groups(claims)
    with transaction.atomic():
        account = (
            OidcAccount.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if account is None:
            user = (
                User.objects.filter(email__iexact=email).order_by("pk").first()
                or User.objects.filter(username__iexact=email).first()
            )
            made = user is None
            if user is None:
                user = User.objects.create_user(username=email, email=email)
                user.set_unusable_password()
                user.save(update_fields=["password"])
            account = OidcAccount.objects.create(user=user, issuer=issuer, subject=subject)
            audit.record(
                "user.created" if made else "user.linked",
                obj=user,
                after={"email": email, "issuer": issuer, "subject": subject},
                reason="first sign-in through the identity provider",
                actor=audit.Actor(AuditEvent.ActorKind.USER, user.get_username(), str(user.pk)),
            )
        user = account.user
        if not user.is_active:
            raise SignInRefused(f"{user} is deactivated")
        if user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        account.person = Person.objects.filter(email__iexact=email).first()
        account.groups = groups
        account.last_sign_in_at = timezone.now()
        account.save(update_fields=["person", "groups", "last_sign_in_at"])
        # With no mapping the provider says nothing about roles: those given in
        # the admin stay (a provider that sends no groups, e.g. Google).
        if settings.AWU_OIDC_GROUPS:
            roles_apply(user, groups, settings.AWU_OIDC_GROUPS)
    return user
