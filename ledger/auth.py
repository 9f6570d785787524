"""API keys: creation, revocation and the DRF authentication that checks them.

A key is ``awu_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored. A fast hash is the right tool here, unlike for passwords: the input is
uniformly random with 256 bits of entropy, so there is nothing to brute-force,
and a lookup by hash keeps authentication to one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ledger import access, audit
from ledger.models import ApiKey, Team

KEY_PREFIX = "awu_"
SCOPES = tuple(ApiKey.Scope.values)
# last_used_at is a hint for operators, not an audit log: write it at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class UnknownScope(ValueError):
    pass


class UnknownTeam(ValueError):
    pass


def teams_by_slug(slugs: Sequence[str]) -> list[Team]:
    """The teams named by ``slugs`` (a key's limits); raises ``UnknownTeam`` naming
    every slug that is no team."""
    wanted = list(dict.fromkeys(slugs))
    found = {t.slug: t for t in Team.objects.filter(slug__in=wanted)}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise UnknownTeam(f"no team with slug {', '.join(repr(s) for s in unknown)}")
    return [found[slug] for slug in wanted]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(
    *, name: str, scopes: Sequence[str], teams: Sequence[Team] = ()
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the key itself, which is not kept anywhere.

    ``teams`` limits what the key reads to them (ledger.access); none: every team.
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise UnknownScope(
            f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}"
            if unknown
            else f"give at least one scope: {', '.join(SCOPES)}"
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ApiKey.objects.create(
            name=name, prefix=key[:12], hashed=_digest(key), scopes=sorted(set(scopes))
        )
        if teams:
            row.teams.set(teams)
        audit.record(
            "api_key.created",
            obj=row,
            after={
                "name": name,
                "prefix": row.prefix,
                "scopes": row.scopes,
                "teams": sorted(t.slug for t in teams) or None,
            },
        )
    return row, key


def api_key_set_teams(*, key_id: int, teams: Sequence[Team], reason: str = "") -> ApiKey:
    """Limit a key to ``teams`` (none: every team); recorded in the audit trail
    (``api_key.teams_changed``, before and after as slugs) in the same transaction.
    Running servers apply it within AWU_API_KEY_CACHE_SECONDS."""
    with transaction.atomic():
        row = ApiKey.objects.select_for_update().get(pk=key_id)
        before = sorted(row.teams.values_list("slug", flat=True))
        after = sorted({t.slug for t in teams})
        if before != after:
            row.teams.set(teams)
            audit.record(
                "api_key.teams_changed",
                obj=row,
                before={"teams": before or None},
                after={"teams": after or None},
                reason=reason,
            )
    _cache.clear()
    return row


def api_key_revoke(*, key_id: int, reason: str = "") -> ApiKey:
    with transaction.atomic():
        row = ApiKey.objects.select_for_update().get(pk=key_id)
        if row.revoked_at is None:
            # Wall-clock bookkeeping of an operator's act: nothing compares it with
            # ledger.clock (a revoked key is refused whatever the time), and a pinned
            # AWU_NOW must not misdate it.
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at"])
            audit.record(
                "api_key.revoked",
                obj=row,
                before={"revoked_at": None},
                after={"revoked_at": row.revoked_at},
                reason=reason,
            )
    _cache.clear()
    return row


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and scopes (what request.user holds)."""

    key_id: int
    name: str
    scopes: frozenset[str]
    # The teams it reads (ledger.access): None for every team.
    teams: frozenset[int] | None = None

    is_authenticated = True

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or ApiKey.Scope.ADMIN in self.scopes


class _KeyCache:
    """Per-process memo of recently verified keys, so a hot ingest path does not pay
    a query per request. Entries live AWU_API_KEY_CACHE_SECONDS, which bounds how long
    a revoked key can still be used by a process that saw it just before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        with self._lock:
            hit = self._entries.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, digest: str, principal: Principal | None) -> None:
        ttl = float(settings.AWU_API_KEY_CACHE_SECONDS)
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _KeyCache()


def principal_for_key(key: str) -> Principal | None:
    """The principal for a presented key, or None when unknown or revoked."""
    digest = _digest(key)
    cached, principal = _cache.get(digest)
    if cached:
        return principal
    # On the primary even when the request reads from a replica: a key just
    # created or revoked counts at once.
    row = ApiKey.objects.using("default").filter(hashed=digest, revoked_at__isnull=True).first()
    principal = None
    if row is not None:
        limits = list(row.teams.using("default").values_list("pk", flat=True))
        principal = Principal(
            key_id=row.pk,
            name=row.name,
            scopes=frozenset(row.scopes),
            teams=access.team_scope(limits) if limits else None,
        )
        # Wall clock, like revoked_at: when the key was really used, a hint for
        # operators that no time-based rule reads.
        ApiKey.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=timezone.now() - LAST_USED_RESOLUTION)
        ).update(last_used_at=timezone.now())
    _cache.put(digest, principal)
    return principal


def bearer_key(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>``. No header: anonymous (permissions decide)."""

    def authenticate(self, request: Request) -> tuple[Principal, str] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        key = bearer_key(header)
        if key is None or not key.startswith(KEY_PREFIX) or len(key) > 100:
            raise exceptions.AuthenticationFailed("Use Authorization: Bearer <API key>.")
        principal = principal_for_key(key)
        if principal is None:
            raise exceptions.AuthenticationFailed("The API key is unknown or has been revoked.")
        return principal, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


# What a person signed in to the dashboard may read through the API: reports,
# of the teams their roles let them read (ledger.access), when they hold a role.
SESSION_SCOPES = frozenset({ApiKey.Scope.REPORTS_READ.value})


class SessionReadAuthentication(BaseAuthentication):
    """A signed-in person's session, for reads only (GET, HEAD).

    So the dashboard's "API" and export links answer its user without a key.
    Unsafe methods are never authenticated by a cookie: a forged cross-site
    POST finds no user, so there is nothing for CSRF to protect here. An
    ``Authorization`` header always wins (checked first).
    """

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        if request.method not in ("GET", "HEAD"):
            return None
        user = getattr(request._request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if not access.has_any_role(user):
            return None
        principal = Principal(
            key_id=0,
            name=f"user:{user.get_username()}",
            scopes=SESSION_SCOPES,
            teams=access.visible_team_ids(user),
        )
        return principal, None


class HasScope(BasePermission):
    """Allows the request when the key holds one of the scopes the view requires.

    A view names them in ``required_scopes``, or per method through
    ``required_scopes_for(method)``. ``admin`` holds every scope. A view that
    requires none is open.

    A view whose data cannot be filtered by team (org-wide gauges, the audit
    trail, the directory) says why in ``every_team``: a caller limited to teams
    (``Principal.teams``) is refused there with that reason (403).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        per_method = getattr(view, "required_scopes_for", None)
        required: tuple[str, ...] = tuple(
            per_method(request.method) if per_method else getattr(view, "required_scopes", ())
        )
        if not required:
            return True
        principal = request.user
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated(
                "An API key is required: Authorization: Bearer <key>."
            )
        if not any(principal.has_scope(scope) for scope in required):
            raise exceptions.PermissionDenied(
                f"This API key lacks the scope this endpoint needs: {' or '.join(required)}."
            )
        every_team = getattr(view, "every_team", None)
        if principal.teams is not None and every_team:
            raise exceptions.PermissionDenied(
                f"This caller is limited to teams, and this endpoint cannot be limited to "
                f"teams ({every_team}): use a key or role for every team."
            )
        return True
