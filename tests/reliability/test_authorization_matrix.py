"""Who may call what: every routed endpoint x every way of presenting a key.

The expected answers live in one table, ``MATRIX``, keyed by the route as the
URLconf writes it. The routes are enumerated from the resolver (and the paths of
the OpenAPI document), so an endpoint added without a row fails
``test_every_routed_endpoint_has_a_row_in_the_matrix``. The rules (DESIGN.md,
Interfaces; docs/security.md): writes need their write scope, every read of the
ledger or a report needs ``reports:read``, ``admin`` holds every scope; webhooks
authenticate by the vendor's signature (a key is neither needed nor enough); the
schema, docs and probes are open; the Django admin needs a staff login.

Also here: keys stored only as hashes, CSRF on the admin login, security headers,
the request body cap on every POST endpoint, and ``check --deploy`` under
production settings.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from awu.alerts.models import Alert
from ledger import auth, clock, directory
from ledger.models import Person, Team
from tests.awu.reports import build
from tests.conftest import approval_off
from tests.integrations.webhooks import fixture, make_source, signed
from tests.ledger import factories
from tests.reliability.security_helpers import (
    CALLERS,
    authorization_for,
    implemented_methods,
    routed_endpoints,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "matrix-hook-secret"
HOOK_SLUG = "matrix-bot"


# --- The expected table -------------------------------------------------------------------


@dataclass(frozen=True)
class Scoped:
    """Needs one of ``scopes`` (``admin`` always qualifies); ``ok`` is the answer then."""

    scopes: tuple[str, ...]
    ok: int

    def expect(self, caller: str) -> tuple[int, str | None]:
        if caller in ("no key", "malformed header", "unknown key", "revoked key"):
            return 401, "not_authenticated"
        if caller == "admin" or caller in self.scopes:
            return self.ok, None
        return 403, "permission_denied"


@dataclass(frozen=True)
class Open:
    """Answers anyone the same way; a key is not needed and not looked at."""

    status: int = 200

    def expect(self, caller: str) -> tuple[int, str | None]:
        return self.status, None


@dataclass(frozen=True)
class VendorSignature:
    """Authenticated by the vendor's signature only: unsigned is 401 whatever key is sent."""

    def expect(self, caller: str) -> tuple[int, str | None]:
        return 401, "not_authenticated"


@dataclass(frozen=True)
class LoginRedirect:
    """Sends everyone without a session (API keys do not count) to ``login``
    (``{path}`` stands for the path asked for)."""

    login: str

    def expect(self, caller: str) -> tuple[int, str | None]:
        return 302, None


@dataclass(frozen=True)
class ScimScoped(Scoped):
    """SCIM (/scim/v2): scoped like the API, its refusals in the SCIM Error shape."""

    def expect(self, caller: str) -> tuple[int, str | None]:
        return super().expect(caller)[0], None


Rule = Scoped | Open | VendorSignature | LoginRedirect

READ = Scoped(("reports:read",), 200)
DIRECTORY_READ = Scoped(("directory:read", "directory:write"), 200)


def _write(ok: int) -> Scoped:
    return Scoped(("directory:write",), ok)


SCIM_READ = ScimScoped(("directory:read", "directory:write"), 200)
SCIM_ONE = {
    "GET": SCIM_READ,
    "PUT": ScimScoped(("directory:write",), 200),
    "PATCH": ScimScoped(("directory:write",), 200),
    "DELETE": ScimScoped(("directory:write",), 204),
}
SCIM_MISSING = ScimScoped(("directory:read", "directory:write"), 404)

MATRIX: dict[str, dict[str, Rule]] = {
    "api/v1/events": {"GET": READ, "POST": Scoped(("events:write",), 201)},
    "api/v1/token-usage": {"GET": READ, "POST": Scoped(("usage:write",), 201)},
    "api/v1/hooks/<slug:vendor>/<slug:source>": {"POST": VendorSignature()},
    "v1/logs": {"POST": Scoped(("usage:write",), 200)},
    "v1/metrics": {"POST": Scoped(("usage:write",), 200)},
    "api/v1/reports/efficiency": {"GET": READ},
    "api/v1/reports/spend-deciles": {"GET": READ},
    "api/v1/reports/trend": {"GET": READ},
    "api/v1/reports/incidents": {"GET": READ},
    # Mapping a service name changes how incidents are attributed: admin only.
    "api/v1/service-names": {"GET": READ, "POST": Scoped(("admin",), 201)},
    "api/v1/work-units": {"GET": READ},
    "api/v1/work-units/<int:unit_id>": {"GET": READ},
    "api/v1/definitions": {"GET": READ},
    "api/v1/definitions/<int:definition_id>": {"GET": READ},
    "api/v1/definitions/<int:definition_id>/preview": {"POST": Scoped(("admin",), 200)},
    "api/v1/audit-events": {"GET": Scoped(("audit:read",), 200)},
    # Alerts: read like a report; acknowledging notifies people, admin only (idempotent).
    "api/v1/alerts": {"GET": READ},
    "api/v1/alerts/<int:alert_id>/acknowledge": {"POST": Scoped(("admin",), 200)},
    "api/v1/people": {"GET": DIRECTORY_READ, "POST": _write(201)},
    "api/v1/people/<int:person_id>": {"GET": DIRECTORY_READ, "PATCH": _write(200)},
    "api/v1/teams": {"GET": DIRECTORY_READ, "POST": _write(201)},
    "api/v1/teams/<int:team_id>": {"GET": DIRECTORY_READ, "PATCH": _write(200)},
    "api/v1/memberships": {"GET": DIRECTORY_READ, "POST": _write(201)},
    "api/v1/memberships/<int:membership_id>/end": {"POST": _write(200)},
    "api/v1/identities": {"GET": DIRECTORY_READ, "POST": _write(201)},
    "api/v1/identities/<int:identity_id>": {"DELETE": _write(204)},
    "api/v1/unmapped-actors": {"GET": DIRECTORY_READ},
    "api/v1/unmapped-actors/map": {"POST": _write(201)},
    "metrics": {"GET": READ},
    "healthz": {"GET": Open()},
    "readyz": {"GET": Open()},
    "api/schema/": {"GET": Open()},
    "api/docs/": {"GET": Open()},
    "api/redoc/": {"GET": Open()},
    "admin/": {"GET": LoginRedirect("/admin/login/?next={path}")},
    # The dashboard: a browser session, never an API key.
    "": {"GET": LoginRedirect("/login/?next={path}")},
    "units/<int:unit_id>/": {"GET": LoginRedirect("/login/?next={path}")},
    "teams/<str:slug>/": {"GET": LoginRedirect("/login/?next={path}")},
    "people/<int:person_id>/": {"GET": LoginRedirect("/login/?next={path}")},
    "alerts/": {"GET": LoginRedirect("/login/?next={path}")},
    "alerts/<int:alert_id>/acknowledge": {"POST": LoginRedirect("/login/?next={path}")},
    "login/": {"GET": Open(), "POST": Open(), "PUT": Open()},
    "logout/": {"POST": LoginRedirect("/login/")},
    # OIDC sign-in: a 404 while no identity provider is configured (tests/oidc).
    "oidc/login/": {"GET": Open(404)},
    "oidc/callback/": {"GET": Open(404)},
    # SCIM provisioning (docs/directory.md).
    "scim/v2/.search": {"POST": SCIM_READ},
    "scim/v2/Users": {"GET": SCIM_READ, "POST": ScimScoped(("directory:write",), 201)},
    "scim/v2/Users/.search": {"POST": SCIM_READ},
    "scim/v2/Users/<str:resource_id>": SCIM_ONE,
    "scim/v2/Groups": {"GET": SCIM_READ, "POST": ScimScoped(("directory:write",), 201)},
    "scim/v2/Groups/.search": {"POST": SCIM_READ},
    "scim/v2/Groups/<str:resource_id>": SCIM_ONE,
    "scim/v2/ServiceProviderConfig": {"GET": SCIM_READ},
    "scim/v2/ResourceTypes": {"GET": SCIM_READ},
    "scim/v2/ResourceTypes/<str:name>": {"GET": SCIM_READ},
    "scim/v2/Schemas": {"GET": SCIM_READ},
    "scim/v2/Schemas/<str:name>": {"GET": SCIM_READ},
    "scim/v2/<path:unknown>": {
        "GET": SCIM_MISSING,
        **dict.fromkeys(["POST", "PUT", "PATCH", "DELETE"], ScimScoped(("directory:write",), 404)),
    },
}


def _routed() -> dict[str, Any]:
    return {route.route: route for route in routed_endpoints()}


def _cases() -> list[Any]:
    out = []
    for route, rules in MATRIX.items():
        for method, rule in rules.items():
            for caller in CALLERS:
                out.append(
                    pytest.param(route, method, rule, caller, id=f"{method} /{route} [{caller}]")
                )
    return out


# --- The world the requests run in ----------------------------------------------------------


@dataclass
class World:
    unit_id: int
    definition_id: int
    person_id: int
    joiner_id: int
    team_id: int
    membership_id: int
    identity_id: int
    scim_user_id: int
    scim_group_id: int
    alert_id: int


@pytest.fixture
def world(settings: Any) -> World:
    settings.AWU_NOW = factories.NOW
    version = build.definition()
    owner = build.person("matrix-person", team_slug="matrix-team")
    unit = build.unit(version, owner=owner)
    make_source("generic", HOOK_SLUG, HOOK_SECRET)
    scim_user = Person.objects.create(name="Scim User", user_name="scim.user@example.com")
    scim_group = Team.objects.create(slug="scim-group", name="Scim Group", directory_group=True)
    joiner = Person.objects.create(name="matrix-joiner")
    team, _ = Team.objects.get_or_create(slug="matrix-team", defaults={"name": "Matrix"})
    membership = directory.membership_start(person=build.person("matrix-mover"), team=team)
    identity = directory.identity_map(value="github:matrix", person=joiner)
    return World(
        unit_id=unit.pk,
        definition_id=version.definition_id,
        person_id=owner.pk,
        joiner_id=joiner.pk,
        team_id=team.pk,
        membership_id=membership.pk,
        identity_id=identity.pk,
        scim_user_id=scim_user.pk,
        scim_group_id=scim_group.pk,
        alert_id=Alert.objects.create(
            rule="spend_pace",
            subject=f"team:{team.pk}",
            team=team,
            period_key="2026-11",
            summary="matrix",
            opened_at=datetime(2026, 11, 1, tzinfo=UTC),
        ).pk,
    )


def concrete(route: str, world: World) -> str:
    path = (
        route.replace("<int:unit_id>", str(world.unit_id))
        .replace("<int:person_id>", str(world.person_id))
        .replace("<str:slug>", "matrix-team")
        .replace("<int:definition_id>", str(world.definition_id))
        .replace("<slug:vendor>/<slug:source>", f"generic/{HOOK_SLUG}")
        .replace("<int:person_id>", str(world.person_id))
        .replace("<int:team_id>", str(world.team_id))
        .replace("<int:membership_id>", str(world.membership_id))
        .replace("<int:identity_id>", str(world.identity_id))
        .replace("Users/<str:resource_id>", f"Users/{world.scim_user_id}")
        .replace("Groups/<str:resource_id>", f"Groups/{world.scim_group_id}")
        .replace("ResourceTypes/<str:name>", "ResourceTypes/User")
        .replace("Schemas/<str:name>", "Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .replace("<path:unknown>", "Nothing/here")
        .replace("<int:alert_id>", str(world.alert_id))
    )
    return "/" + path + QUERIES.get(route, "")


# Query parameters an endpoint needs to answer at all.
QUERIES = {"api/v1/reports/trend": "?from=2026-03-01&to=2026-03-31"}


DIRECTORY_BODIES: dict[str, Any] = {
    "api/v1/people": {"name": "Matrix New", "email": "matrix-new@example.com"},
    "api/v1/people/<int:person_id>": {"department": "Matrix"},
    "api/v1/teams": {"slug": "matrix-new", "name": "Matrix New"},
    "api/v1/teams/<int:team_id>": {"cost_centre": "CC-M"},
    "api/v1/memberships/<int:membership_id>/end": {},
    "api/v1/identities": {"value": "github:matrix-new", "person": None},
    "api/v1/unmapped-actors/map": {"actor": "github:matrix-unmapped", "person": None},
}


SCIM = "application/scim+json"


def body_for(route: str, world: World, method: str = "POST") -> tuple[bytes, str]:
    """A valid body for each POST endpoint (a fresh record id every call), and for
    SCIM's PUT and PATCH."""
    if route.startswith("scim/v2/") and (method == "PATCH" or route.endswith(".search")):
        if route.endswith(".search"):
            return b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}', SCIM
        return orjson.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "externalId", "value": "x-1"}],
            }
        ), SCIM
    if route.startswith("scim/v2/Users"):
        return orjson.dumps(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "new@example.com",
            }
        ), SCIM
    if route.startswith("scim/v2/"):
        return orjson.dumps(
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "New"}
        ), SCIM
    if route == "api/v1/memberships":
        return orjson.dumps({"person": world.joiner_id, "team": "matrix-team"}), "application/json"
    if route in DIRECTORY_BODIES:
        body = DIRECTORY_BODIES[route]
        if "person" in body:
            body = {**body, "person": world.joiner_id}
        return orjson.dumps(body), "application/json"
    if route == "api/v1/events":
        return orjson.dumps(factories.event()), "application/json"
    if route == "api/v1/token-usage":
        return orjson.dumps(factories.usage()), "application/json"
    if route == "v1/logs":
        return fixture("otlp", "logs_claude_code.json"), "application/json"
    if route == "v1/metrics":
        return fixture("otlp", "metrics_delta.json"), "application/json"
    if route == "api/v1/service-names":
        mapping = {
            "source": f"generic:{HOOK_SLUG}",
            "external_name": f"svc-{uuid.uuid4().hex[:8]}",
            "service": "acme/api",
        }
        return orjson.dumps(mapping), "application/json"
    if route.endswith("/preview"):
        return b'{"days": 30}', "application/json"
    if route.startswith("api/v1/hooks/"):
        return fixture("generic", "deploy_event.json"), "application/json"
    if route.endswith("/acknowledge"):
        return b"", "application/json"
    if route in ("login/", "logout/", "alerts/<int:alert_id>/acknowledge"):
        # An empty form: the login page answers it with its errors.
        return b"", "application/x-www-form-urlencoded"
    raise AssertionError(f"no body known for POST /{route}")


def call(client: Client, method: str, path: str, route: str, caller: str, world: World) -> Any:
    header = authorization_for(caller)
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    if method in ("GET", "DELETE"):
        return client.generic(method, path, **extra)
    body, content_type = body_for(route, world, method)
    return client.generic(method, path, body, content_type=content_type, **extra)


# --- Completeness ----------------------------------------------------------------------------


def test_every_routed_endpoint_has_a_row_in_the_matrix() -> None:
    routed = _routed()
    missing = sorted(set(routed) - set(MATRIX))
    assert not missing, f"routes without a row in MATRIX: {missing}"
    stale = sorted(set(MATRIX) - set(routed))
    assert not stale, f"rows in MATRIX for routes that no longer exist: {stale}"


def test_every_row_names_exactly_the_methods_its_view_answers() -> None:
    for route, entry in _routed().items():
        methods = implemented_methods(entry.view_class)
        if methods is None or route not in MATRIX:
            continue
        assert methods == set(MATRIX[route]), route


def test_every_documented_operation_has_a_row_in_the_matrix(client: Client) -> None:
    document = orjson.loads(client.get("/api/schema/", {"format": "json"}).content)
    rows = {
        "/" + re.sub(r"<\w+:(\w+)>", r"{\1}", route): {m.lower() for m in rules}
        for route, rules in MATRIX.items()
    }
    for path, operations in document["paths"].items():
        assert path in rows, f"documented path {path} has no row in MATRIX"
        documented = {m for m in operations if m in ("get", "post", "put", "patch", "delete")}
        assert documented == rows[path], path


# --- The matrix itself -----------------------------------------------------------------------


@pytest.mark.parametrize(("route", "method", "rule", "caller"), _cases())
def test_endpoint_answers_each_caller_as_the_matrix_says(
    client: Client, world: World, route: str, method: str, rule: Rule, caller: str
) -> None:
    path = concrete(route, world)
    response = call(client, method, path, route, caller, world)

    status, error_type = rule.expect(caller)
    assert response.status_code == status, response.content[:300]
    if isinstance(rule, ScimScoped) and status >= 400:
        assert response["Content-Type"].startswith("application/scim+json")
        assert orjson.loads(response.content)["status"] == str(status)
    if error_type is not None:
        assert response["Content-Type"].startswith("application/json")
        assert orjson.loads(response.content)["type"] == error_type
    if status == 401 and not isinstance(rule, VendorSignature):
        assert response["WWW-Authenticate"].startswith("Bearer")
    if isinstance(rule, LoginRedirect):
        assert response["Location"] == rule.login.format(path=path)


def _signed(body: bytes, secret: str) -> dict[str, str]:
    """The generic hook's headers: HMAC-SHA256 of ``<timestamp>.`` + body, at NOW."""
    now = datetime.fromisoformat(factories.NOW.replace("Z", "+00:00"))
    return signed("generic", body, secret, now=now).headers


@pytest.mark.parametrize("caller", CALLERS)
def test_a_correctly_signed_webhook_is_accepted_whatever_key_comes_with_it(
    client: Client, world: World, caller: str
) -> None:
    body = orjson.dumps({**orjson.loads(fixture("generic", "deploy_event.json")), "id": caller})
    headers = _signed(body, HOOK_SECRET)
    header = authorization_for(caller)
    if header is not None:
        headers["Authorization"] = header

    response = client.post(
        f"/api/v1/hooks/generic/{HOOK_SLUG}",
        data=body,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 200, response.content
    assert orjson.loads(response.content)["status"] == "stored"


def test_open_endpoints_reveal_no_ledger_data(client: Client, world: World) -> None:
    client.post(
        "/api/v1/events",
        data=orjson.dumps(factories.event(actor="carol.secretive@example.com", id="evt-hidden")),
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization_for("events:write"),
    )
    for route, rules in MATRIX.items():
        if not isinstance(rules.get("GET"), Open):
            continue
        body = client.get("/" + route).content
        for marker in (b"carol.secretive", b"evt-hidden", b"matrix-person", HOOK_SECRET.encode()):
            assert marker not in body, (route, marker)


def test_admin_pages_need_a_login_with_a_role_that_uses_the_admin(
    client: Client, world: World
) -> None:
    from ledger import access

    assert client.get("/admin/").status_code == 302
    User.objects.create_user("plain", password="a-long-password-1")
    client.login(username="plain", password="a-long-password-1")
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    # is_staff alone no longer lets anyone in: the roles do.
    staff = User.objects.create_user("staff", password="a-long-password-2", is_staff=True)
    client.login(username="staff", password="a-long-password-2")
    assert client.get("/admin/").status_code == 302

    access.grant(user=staff, role=access.FINANCE)
    assert client.get("/admin/").status_code == 200


# --- Keys at rest ------------------------------------------------------------------------


def test_api_keys_appear_nowhere_in_the_database_only_their_hash(client: Client) -> None:
    row, key = auth.api_key_create(name="at-rest", scopes=["events:write"])
    client.post(
        "/api/v1/events",
        data=orjson.dumps(factories.event()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    auth.api_key_revoke(key_id=row.pk)
    client.post(
        "/api/v1/events",
        data=orjson.dumps(factories.event()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM ledger_apikey k")
        dump = [text for (text,) in cursor.fetchall()]
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [name for (name,) in cursor.fetchall()]
        holding = []
        secret_part = key[len(auth.KEY_PREFIX) :]
        for table in tables:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s',  # noqa: S608
                [f"%{secret_part}%"],
            )
            if cursor.fetchone()[0]:
                holding.append(table)

    assert len(dump) == 1
    assert secret_part not in dump[0]
    assert hashlib.sha256(key.encode()).hexdigest() in dump[0]
    assert holding == []


# --- Browser protections -------------------------------------------------------------------


def test_admin_login_refuses_a_post_without_the_csrf_token(db: None) -> None:
    User.objects.create_superuser("staff", password="a-long-password-3")
    browser = Client(enforce_csrf_checks=True)

    refused = browser.post("/admin/login/", {"username": "staff", "password": "a-long-password-3"})

    assert refused.status_code == 403
    assert "_auth_user_id" not in browser.session
    # The same form with its token logs in: the 403 was the CSRF check.
    browser.get("/admin/login/")
    token = browser.cookies[django_settings.CSRF_COOKIE_NAME].value
    accepted = browser.post(
        "/admin/login/",
        {"username": "staff", "password": "a-long-password-3", "csrfmiddlewaretoken": token},
    )
    assert accepted.status_code == 302


# Swagger UI asks for "unsafe-none" itself (its OAuth2 pop-up needs an opener).
@pytest.mark.parametrize(
    ("path", "opener_policy"),
    [
        ("/api/v1/events", "same-origin"),
        ("/admin/login/", "same-origin"),
        ("/login/", "same-origin"),
        ("/healthz", "same-origin"),
        ("/api/docs/", "unsafe-none"),
    ],
)
def test_api_and_admin_responses_carry_the_security_headers(
    client: Client, path: str, opener_policy: str
) -> None:
    header = authorization_for("reports:read")
    response = client.get(path, HTTP_AUTHORIZATION=header)

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == opener_policy


def _production_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWU_", "DEBUG", "SECURE_"))}
    env.update(
        AWU_ENV="production",
        AWU_DATA_DIR=str(tmp_path),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="ledger.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    )
    return env


def test_production_settings_turn_on_hsts_tls_redirect_and_secure_cookies(
    tmp_path: Path,
) -> None:
    script = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG]))"
    )
    env = {**_production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "awu.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    hsts, subdomains, redirect, session_secure, csrf_secure, debug = orjson.loads(done.stdout)
    assert hsts >= 31536000
    assert subdomains is True
    assert redirect is True
    assert session_secure is True
    assert csrf_secure is True
    assert debug is False


def test_under_tls_settings_responses_carry_hsts_and_cookies_are_secure(
    client: Client, settings: Any
) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True

    api = client.get("/healthz", secure=True)
    login = client.get("/admin/login/", secure=True)

    for response in (api, login):
        assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert login.cookies[settings.CSRF_COOKIE_NAME]["secure"]


def test_manage_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- The body cap ------------------------------------------------------------------------


def _post_routes() -> list[str]:
    # The API's POST endpoints (the login form is Django's, capped by Django).
    return [
        route
        for route, rules in MATRIX.items()
        if "POST" in rules and route.startswith(("api/", "v1/"))
    ]


@pytest.mark.parametrize("route", _post_routes())
def test_a_body_over_the_cap_is_a_413_before_it_is_parsed(
    client: Client, world: World, settings: Any, route: str
) -> None:
    settings.AWU_MAX_BODY_BYTES = 1024
    # Not even JSON: a 413 (not a 400) shows the size was checked first.
    oversize = b"{" * 4096
    header = authorization_for("admin")

    response = client.post(
        concrete(route, world),
        data=oversize,
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )

    assert response.status_code == 413, response.content[:200]
    assert orjson.loads(response.content)["type"] == "payload_too_large"


# === Roles: every role x every admin action, CLI command and session read ====================
#
# The people of an AWU Ledger hold roles (ledger.access, docs/security.md): the table below says
# what each may do, as data; the tests ask the admin, the commands and the API for every cell.
# Team A is ``matrix-team``; "own" objects belong to it (or its people), "other" ones to team B.

ADM, LEAD, FIN, VALL, VA, NONE = (
    "admin", "lead of A", "finance", "viewer of all", "viewer of A", "no role",
)  # fmt: skip
ROLES = (ADM, LEAD, FIN, VALL, VA, NONE)
ENTERS_ADMIN = frozenset({ADM, LEAD, FIN})
A = frozenset({ADM})
AF = frozenset({ADM, FIN})
AL = frozenset({ADM, LEAD})
ALF = frozenset({ADM, LEAD, FIN})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AdminRow:
    """Who may do what with one registered ModelAdmin.

    ``change``: the change page is editable; ``view``: shown read-only (the others who
    enter the admin get a 403). ``other_*``: the same page for team B's object, where the
    model has teams. ``actions``: the change list's bulk actions, by who is offered them;
    ``views``: the ModelAdmin's own URLs (by URL name), by who may use them."""

    changelist: frozenset[str]
    add: frozenset[str] = NOBODY
    change: frozenset[str] = NOBODY
    view: frozenset[str] = NOBODY
    delete: frozenset[str] = NOBODY
    other_change: frozenset[str] | None = None
    other_view: frozenset[str] = NOBODY
    other_delete: frozenset[str] = NOBODY
    actions: dict[str, frozenset[str]] | None = None
    views: dict[str, frozenset[str]] | None = None
    has_object: bool = True


def _everything(**more: Any) -> AdminRow:
    return AdminRow(changelist=A, add=A, change=A, delete=A, actions={"delete_selected": A}, **more)


def _read_only(readers: frozenset[str]) -> AdminRow:
    return AdminRow(changelist=readers, view=readers)


ADMIN_MATRIX: dict[str, AdminRow] = {
    "auth.User": _everything(views={"auth_user_password_change": A}),
    "auth.Group": _everything(),
    "ledger.Source": _everything(),
    "ledger.ServiceName": _everything(),
    "ledger.ApiKey": AdminRow(changelist=A, add=A, change=A, actions={"revoke": A}),
    # Roles: made and revoked with a reason, never edited.
    "ledger.RoleGrant": AdminRow(
        changelist=A, add=A, view=A, delete=A, actions={"revoke_selected": A}
    ),
    # A team lead edits the identities and memberships of their teams' people (the
    # person's own fields are read-only for them); nobody deletes a person.
    "ledger.Person": AdminRow(changelist=AL, add=A, change=AL, other_change=A),
    "ledger.Identity": AdminRow(
        changelist=AL,
        add=AL,
        change=AL,
        delete=AL,
        other_change=A,
        other_delete=A,
        actions={"delete_selected": AL},
    ),
    # Teams: created, renamed and merged by admins; read by finance and their leads.
    "ledger.Team": AdminRow(
        changelist=ALF,
        add=A,
        change=A,
        view=frozenset({LEAD, FIN}),
        other_change=A,
        other_view=AF,
        actions={"confirm": A, "merge": A},
    ),
    # The price book is finance's (an unfrozen entry; "correct this price").
    "ledger.ModelPrice": AdminRow(
        changelist=AF,
        add=AF,
        change=AF,
        delete=AF,
        actions={"delete_selected": AF},
        views={"ledger_modelprice_correct": AF},
    ),
    "ledger.TokenUsage": _read_only(AF),
    "ledger.CostAdjustment": AdminRow(changelist=AF, has_object=False),
    "ledger.WorkEvent": _read_only(A),
    "ledger.AuditEvent": _read_only(A),
    "integrations.DeadLetter": AdminRow(
        changelist=A, change=A, delete=A, actions={"replay": A, "delete_selected": A}
    ),
    "integrations.IgnoredDeliveries": AdminRow(
        changelist=A, view=A, delete=A, actions={"delete_selected": A}
    ),
    "integrations.MetricSeries": AdminRow(
        changelist=A, view=A, delete=A, actions={"delete_selected": A}
    ),
    # Listed for leads (to map their people); creating a person from an actor: admins.
    "integrations.UnmappedActor": AdminRow(
        changelist=AL, has_object=False, views={"integrations_unmappedactor_map": A}
    ),
    # Team leads read their teams' units and entries; admins and finance every team's.
    "scoring.WorkUnit": AdminRow(changelist=ALF, view=ALF, other_view=AF),
    "scoring.AwuEntry": AdminRow(changelist=ALF, view=ALF, other_view=AF),
    # Definitions (four eyes, awu.definitions.admin): a lead changes the drafts of the
    # definitions their team owns (publishing them where the domain needs no
    # approval, else proposing), an admin everything, the others read. A
    # definition's domain and owning team decide who approves: an admin's.
    "definitions.Definition": AdminRow(
        changelist=ALF,
        add=A,
        change=A,
        view=frozenset({LEAD, FIN}),
        delete=A,
        actions={"delete_selected": A},
    ),
    "definitions.DefinitionVersion": AdminRow(
        changelist=ALF,
        add=AL,
        change=AL,
        view=frozenset({FIN}),
        delete=AL,
        actions={"publish_selected": AL, "draft_from_selected": AL, "delete_selected": AL},
        views={
            "definitions_version_publish": AL,
            "definitions_version_draft": AL,
            "definitions_version_preview": AL,
            "definitions_version_propose": AL,
            "definitions_version_rescore": AL,
        },
    ),
    # Proposals: read by those who enter the admin; decided (through the service,
    # which refuses the proposer and the owning team) by admins and team leads;
    # withdrawn by the proposer or whoever may propose for the definition.
    "definitions.ChangeRequest": AdminRow(
        changelist=ALF,
        view=ALF,
        views={"definitions_changerequest_decide": AL, "definitions_changerequest_withdraw": AL},
    ),
    "definitions.ApprovalPolicy": AdminRow(
        changelist=ALF, add=A, change=A, view=frozenset({LEAD, FIN})
    ),
    # Budgets: finance's (and admins'); a lead reads their teams'. Alerts: read by
    # admins and finance, a lead their teams'. Where alerts go and what was sent:
    # admins only.
    "alerts.Budget": AdminRow(
        changelist=ALF,
        add=AF,
        change=AF,
        view=frozenset({LEAD}),
        delete=AF,
        other_change=AF,
        other_delete=AF,
        actions={"delete_selected": AF},
    ),
    "alerts.Alert": AdminRow(changelist=ALF, view=ALF, other_view=AF),
    "alerts.Channel": _everything(),
    "alerts.DigestRecipient": _everything(),
    "alerts.AlertTransition": AdminRow(changelist=A, has_object=False),
    "alerts.Delivery": AdminRow(changelist=A, has_object=False),
    "alerts.DigestRun": AdminRow(changelist=A, has_object=False),
}

# Rows expected to fail, with their reason (none: every row holds).
ADMIN_PENDING: dict[tuple[str, str], str] = {}


def role_user(role: str, team_a: Team, name: str | None = None) -> User:
    from ledger import access

    user = User.objects.create_user(name or "matrix-" + role.replace(" ", "-"))
    grants = {
        ADM: [(access.ADMIN, None)],
        LEAD: [(access.TEAM_LEAD, team_a)],
        FIN: [(access.FINANCE, None)],
        VALL: [(access.VIEWER, None)],
        VA: [(access.VIEWER, team_a)],
        NONE: [],
    }[role]
    for granted, team in grants:
        access.grant(user=user, role=granted, team=team)
    return user


@dataclass
class AdminWorld:
    team_a: Team
    own: dict[str, int]
    other: dict[str, int]


@pytest.fixture
def admin_world(world: World) -> AdminWorld:
    from django.contrib.auth.models import Group

    from awu.alerts.models import Budget, Channel, DigestRecipient
    from awu.definitions import approvals
    from awu.definitions.models import ApprovalPolicy, Definition, DefinitionVersion
    from awu.definitions.services import version_draft_from
    from awu.scoring.models import AwuEntry, WorkUnit
    from integrations.models import DeadLetter, IgnoredDeliveries, MetricSeries
    from ledger import access, clock
    from ledger.models import (
        AuditEvent,
        Identity,
        ModelPrice,
        ServiceName,
        Source,
        WorkEvent,
    )

    now = clock.now()
    team_a = Team.objects.get(pk=world.team_id)
    team_b = Team.objects.create(slug="matrix-other", name="Matrix Other")
    outsider = build.person("matrix-outsider", team_slug="matrix-other")
    source = Source.objects.get(slug=HOOK_SLUG)
    Definition.objects.filter(pk=world.definition_id).update(owner_team=team_a)
    published = DefinitionVersion.objects.get(definition_id=world.definition_id, version=1)
    draft = version_draft_from(version=published)
    own_unit = build.unit(published, owner=Person.objects.get(pk=world.person_id), team_=team_a)
    other_unit = WorkUnit.objects.get(pk=world.unit_id)  # no team
    other_user = User.objects.create_user("matrix-someone")
    grant = access.grant(user=other_user, role=access.VIEWER)
    key_row, _ = auth.api_key_create(name="matrix-admin-key", scopes=["events:write"])
    price = ModelPrice.objects.create(
        provider="matrixai", model="matrix-1", match="matrix-1", effective_from=now,
        input="1", output="2",
    )  # fmt: skip
    usage = build.usage(src=source)
    own = {
        "auth.User": other_user.pk,
        "auth.Group": Group.objects.create(name="matrix-group").pk,
        "ledger.Source": source.pk,
        "ledger.ServiceName": ServiceName.objects.create(
            source=source, external_name="PMATRIX", service="acme/api"
        ).pk,
        "ledger.ApiKey": key_row.pk,
        "ledger.RoleGrant": grant.pk,
        "ledger.Person": world.person_id,
        "ledger.Identity": Identity.objects.get(person_id=world.person_id).pk,
        "ledger.Team": team_a.pk,
        "ledger.ModelPrice": price.pk,
        "ledger.TokenUsage": usage.pk,
        "ledger.WorkEvent": WorkEvent.objects.order_by("pk").first().pk,  # type: ignore[union-attr]
        "ledger.AuditEvent": AuditEvent.objects.order_by("pk").first().pk,  # type: ignore[union-attr]
        "integrations.DeadLetter": DeadLetter.objects.create(
            source=source, vendor="generic", received_at=now, body=b"{}", error="matrix"
        ).pk,
        "integrations.IgnoredDeliveries": IgnoredDeliveries.objects.create(
            source=source, reason="matrix", count=1, last_seen_at=now
        ).pk,
        "integrations.MetricSeries": MetricSeries.objects.create(
            source=source, key="matrix", updated_at=now
        ).pk,
        "scoring.WorkUnit": own_unit.pk,
        "scoring.AwuEntry": AwuEntry.objects.filter(unit=own_unit).first().pk,  # type: ignore[union-attr]
        "definitions.Definition": world.definition_id,
        "definitions.DefinitionVersion": draft.pk,
        "definitions.ChangeRequest": approvals.change_propose(
            version=version_draft_from(version=published),
            by=User.objects.create_superuser("matrix-proposer"),
            preview={},
            preview_days=30,
            now=now,
        ).pk,
        "alerts.Budget": Budget.objects.create(team=team_a, monthly_usd="1000").pk,
        "alerts.Alert": _alert(team_a).pk,
        "alerts.Channel": Channel.objects.create(
            name="matrix", kind="webhook", url="https://hooks.example.com/awu"
        ).pk,
        "alerts.DigestRecipient": DigestRecipient.objects.create(email="cto@example.com").pk,
        "definitions.ApprovalPolicy": ApprovalPolicy.objects.get_or_create(
            domain=published.definition.domain, defaults={"required": True}
        )[0].pk,
    }
    other_entry = AwuEntry.objects.filter(unit=other_unit).first()
    assert other_entry is not None
    other = {
        "ledger.Person": outsider.pk,
        "ledger.Identity": Identity.objects.get(person=outsider).pk,
        "ledger.Team": team_b.pk,
        "scoring.WorkUnit": other_unit.pk,
        "scoring.AwuEntry": other_entry.pk,
        "alerts.Budget": Budget.objects.create(team=team_b, monthly_usd="1000").pk,
        "alerts.Alert": _alert(team_b).pk,
    }
    return AdminWorld(team_a=team_a, own=own, other=other)


def _alert(team: Team) -> Any:
    from awu.alerts.models import Alert

    return Alert.objects.create(
        rule="spend_pace",
        subject=f"team:{team.pk}",
        team=team,
        period_key="matrix-admin",
        summary="On pace to exceed the budget.",
        opened_at=clock.now(),
    )


def _label(model: Any) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _registry() -> dict[str, Any]:
    from django.contrib import admin

    return {_label(model): model_admin for model, model_admin in admin.site._registry.items()}


_STANDARD_VIEWS = ("changelist", "add", "history", "delete", "change")


def _own_views(model_admin: Any) -> set[str]:
    opts = model_admin.model._meta
    standard = {f"{opts.app_label}_{opts.model_name}_{view}" for view in _STANDARD_VIEWS}
    return {p.name for p in model_admin.get_urls() if p.name and p.name not in standard}


def test_every_registered_admin_has_a_row_with_its_actions_and_views(rf: Any) -> None:
    registry = _registry()
    assert sorted(set(registry) - set(ADMIN_MATRIX)) == [], "admins without a row"
    assert sorted(set(ADMIN_MATRIX) - set(registry)) == [], "rows for admins no longer registered"
    request = rf.get("/admin/")
    request.user = User.objects.create_superuser("matrix-root")
    for label, model_admin in registry.items():
        row = ADMIN_MATRIX[label]
        assert set(model_admin.get_actions(request)) == set(row.actions or {}), label
        assert _own_views(model_admin) == set(row.views or {}), label


def _admin_url(label: str, view: str, pk: int | None = None) -> str:
    app, model = label.lower().split(".")
    base = f"/admin/{app}/{model}/"
    return {
        "changelist": base,
        "add": f"{base}add/",
        "change": f"{base}{pk}/change/",
        "delete": f"{base}{pk}/delete/",
    }[view]


_VIEW_URLS = {
    "auth_user_password_change": ("GET", "/admin/auth/user/{pk}/password/", 200),
    "ledger_modelprice_correct": ("GET", "/admin/ledger/modelprice/{pk}/correct/", 200),
    "integrations_unmappedactor_map": ("POST", "/admin/integrations/unmappedactor/map/", 302),
    "definitions_version_publish": ("POST", "/admin/definitions/definitionversion/{pk}/publish/", 302),
    "definitions_version_draft": ("POST", "/admin/definitions/definitionversion/{pk}/new-draft/", 302),
    "definitions_version_preview": ("GET", "/admin/definitions/definitionversion/{pk}/preview/", 200),
    "definitions_version_propose": ("POST", "/admin/definitions/definitionversion/{pk}/propose/", 302),
    "definitions_version_rescore": ("POST", "/admin/definitions/definitionversion/{pk}/request-rescore/", 302),
    "definitions_changerequest_decide": ("POST", "/admin/definitions/changerequest/{pk}/decide/", 302),
    "definitions_changerequest_withdraw": ("POST", "/admin/definitions/changerequest/{pk}/withdraw/", 302),
}  # fmt: skip


def _admin_cases() -> list[Any]:
    out = []
    for label in ADMIN_MATRIX:
        for role in ROLES:
            marks = []
            if (label, role) in ADMIN_PENDING:
                marks.append(pytest.mark.xfail(strict=True, reason=ADMIN_PENDING[label, role]))
            out.append(pytest.param(label, role, marks=marks, id=f"{label} [{role}]"))
    return out


def _page(client: Client, url: str, role: str, allowed: bool, problems: list[str]) -> Any:
    response = client.get(url)
    if role not in ENTERS_ADMIN:
        if response.status_code != 302 or "/admin/login/" not in response["Location"]:
            problems.append(f"GET {url}: {response.status_code}, not the admin log-in")
        return None
    expected = 200 if allowed else 403
    if response.status_code != expected:
        problems.append(f"GET {url}: {response.status_code}, expected {expected}")
        return None
    return response if allowed else None


@pytest.mark.parametrize(("label", "role"), _admin_cases())
def test_the_admin_answers_each_role_as_the_matrix_says(
    admin_world: AdminWorld, label: str, role: str
) -> None:
    row = ADMIN_MATRIX[label]
    client = Client()
    client.force_login(role_user(role, admin_world.team_a))
    problems: list[str] = []

    listing = _page(client, _admin_url(label, "changelist"), role, role in row.changelist, problems)
    if listing is not None and row.actions is not None:
        form = listing.context["action_form"]
        offered = {name for name, _ in form.fields["action"].choices} if form else set()
        for action, who in row.actions.items():
            if (action in offered) != (role in who):
                problems.append(f"action {action}: offered={action in offered}")
    _page(client, _admin_url(label, "add"), role, role in row.add, problems)
    targets = [("own", admin_world.own, row.change, row.view, row.delete)]
    if label in admin_world.other:
        other = (row.other_change or NOBODY, row.other_view, row.other_delete)
        targets.append(("other", admin_world.other, *other))
    for which, objects, change, view, delete in targets if row.has_object else []:
        pk = objects[label]
        page = _page(client, _admin_url(label, "change", pk), role, role in change | view, problems)
        if page is not None and page.context["has_change_permission"] != (role in change):
            problems.append(f"{which} change page editable={page.context['has_change_permission']}")
        _page(client, _admin_url(label, "delete", pk), role, role in delete, problems)
    for name, who in (row.views or {}).items():
        method, url, ok = _VIEW_URLS[name]
        path = url.format(pk=admin_world.own.get(label))
        data = {"actor": "github:matrix-unmapped"} if method == "POST" else None
        response = client.post(path, data) if method == "POST" else client.get(path)
        expected = 302 if role not in ENTERS_ADMIN else ok if role in who else 403
        if response.status_code != expected:
            problems.append(f"{method} {path}: {response.status_code}, expected {expected}")

    assert problems == [], f"{label} as {role}"


# --- The CLI: every operator command x every role (through --as) -------------------------------


@dataclass(frozen=True)
class CommandRow:
    """``argv`` (``{...}`` filled from the CLI world); who may run it (admin always)."""

    argv: tuple[str, ...]
    allowed: frozenset[str]
    via_awu: bool = False


CLI_MATRIX: dict[str, CommandRow] = {
    "reprice": CommandRow(
        (
            "reprice",
            "--provider",
            "matrixai",
            "--model",
            "matrix-1",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--apply",
        ),
        AF,
    ),
    "import_prices": CommandRow(("import_prices", "--litellm", "{litellm}"), AF),
    "create_api_key": CommandRow(("create_api_key", "matrix-cli", "--scope", "events:write"), A),
    "erase_person": CommandRow(("erase_person", "{person}"), A),
    "rescore": CommandRow(("rescore", "{definition}"), A),
    "directory_import": CommandRow(("directory_import", "{csv}"), A),
    "audit_export": CommandRow(("audit_export", "--since", "2026-01-01", "--output", "{out}"), A),
    "create_source": CommandRow(
        ("create_source", "generic", "matrix-cli", "--secret=s3cr3t-matrix"), A
    ),
    "awu keys create": CommandRow(
        ("keys", "create", "matrix-cli", "--scope", "events:write"), A, True
    ),
    "awu keys revoke": CommandRow(("keys", "revoke", "{key}"), A, True),
    "awu keys list": CommandRow(("keys", "list"), A, True),
    "awu definitions publish": CommandRow(("definitions", "publish", "{definition}"), A, True),
    "awu directory import": CommandRow(("directory", "import", "{csv}"), A, True),
    "awu rescore": CommandRow(("rescore", "{definition}"), A, True),
}


def test_every_operator_command_has_a_row() -> None:
    from django.core.management import get_commands, load_command_class

    from ledger.audit import OperatorCommand

    checked = set()
    for name, app in get_commands().items():
        command = load_command_class(app, name)
        if isinstance(command, OperatorCommand) and command.operator_roles is not None:
            checked.add(name)
    # prepare (a deploy step) and install_default_definitions (part of it) check no role.
    assert checked == {n for n in CLI_MATRIX if not n.startswith("awu ")}


def _fill(argv: tuple[str, ...], values: dict[str, str]) -> list[str]:
    return [part.format(**values) for part in argv]


@pytest.fixture
def cli_world(world: World, tmp_path: Path) -> dict[str, str]:
    from awu.definitions.models import DefinitionVersion
    from awu.definitions.services import version_draft_from
    from ledger import clock
    from ledger.models import ModelPrice

    ModelPrice.objects.create(
        provider="matrixai", model="matrix-1", match="matrix-1",
        effective_from=clock.now().replace(year=2025), input="1", output="2",
    )  # fmt: skip
    published = DefinitionVersion.objects.get(definition_id=world.definition_id, version=1)
    version_draft_from(version=published)
    # Who may run a command, not the four eyes a domain may ask for (their own tests).
    approval_off(published.definition.domain)
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("name,email,team\nMatrix Csv,matrix-csv@example.com,matrix-team\n")
    key_row, _ = auth.api_key_create(name="matrix-cli-revoke", scopes=["events:write"])
    return {
        "litellm": str(ROOT / "tests" / "fixtures" / "litellm" / "model_prices_excerpt.json"),
        "person": str(Person.objects.create(name="Matrix Erased").pk),
        "definition": published.definition.key,
        "csv": str(csv_path),
        "out": str(tmp_path / "audit.jsonl"),
        "key": str(key_row.pk),
    }


def _state() -> tuple[int, ...]:
    from awu.definitions.models import DefinitionVersion
    from ledger.models import ApiKey, AuditEvent, ModelPrice, Source

    return (
        AuditEvent.objects.count(),
        ApiKey.objects.filter(revoked_at__isnull=True).count(),
        Source.objects.count(),
        Person.objects.count(),
        ModelPrice.objects.count(),
        DefinitionVersion.objects.filter(status="published").count(),
    )


@pytest.mark.parametrize(
    ("command", "role"), [pytest.param(c, r, id=f"{c} [{r}]") for c in CLI_MATRIX for r in ROLES]
)
def test_each_operator_command_checks_the_role_of_as(
    cli_world: dict[str, str], settings: Any, capsys: Any, command: str, role: str
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from awu.cli import main
    from ledger.operators import OperatorRefused

    settings.AWU_OUTBOX_WAKE_TASK = ""
    row = CLI_MATRIX[command]
    user = role_user(role, Team.objects.get(slug="matrix-team"))
    argv = _fill(row.argv, cli_world)
    before = _state()
    if row.via_awu:
        code = main(["--as", user.username, *argv])
        err = capsys.readouterr().err
        if role in row.allowed:
            assert code == 0, err
        else:
            assert code == 1
            assert "needs the admin" in err, err
            assert _state() == before
        return
    if role in row.allowed:
        call_command(*argv, "--as", user.username, stdout=StringIO(), stderr=StringIO())
        return
    with pytest.raises(OperatorRefused, match="needs the admin"):
        call_command(*argv, "--as", user.username, stdout=StringIO(), stderr=StringIO())
    assert _state() == before


# --- Session users: every GET endpoint x every role --------------------------------------------

# The report reads answer a signed-in person who holds a role (of the teams it lets them read);
# every other endpoint of the API takes a key only. The admin lets in admins, leads and finance.
SESSION_REPORTS = frozenset(
    {
        "api/v1/reports/efficiency", "api/v1/reports/spend-deciles", "api/v1/reports/trend",
        "api/v1/reports/incidents", "api/v1/work-units", "api/v1/work-units/<int:unit_id>",
        "api/v1/definitions", "api/v1/definitions/<int:definition_id>", "api/v1/alerts",
    }
)  # fmt: skip
DASHBOARD = frozenset(
    {"", "units/<int:unit_id>/", "teams/<str:slug>/", "people/<int:person_id>/", "alerts/"}
)


def session_expect(route: str, rule: Rule, role: str) -> int:
    if route in SESSION_REPORTS:
        return 200 if role != NONE else 401
    if route == "admin/":
        return 200 if role in ENTERS_ADMIN else 302
    if route in DASHBOARD:
        # Every role reads the dashboard (limited to its teams); no role: a 403 page.
        return 200 if role != NONE else 403
    if route in ("logout/", "login/"):
        return 302  # a signed-in person is sent on from the log-in page
    if isinstance(rule, Open):
        return rule.status
    return rule.expect("no key")[0]


def _session_cases() -> list[Any]:
    return [
        pytest.param(route, role, id=f"GET /{route} [{role}]")
        for route, rules in MATRIX.items()
        if "GET" in rules
        for role in ROLES
    ]


@pytest.mark.parametrize(("route", "role"), _session_cases())
def test_each_get_answers_a_session_user_by_role(world: World, route: str, role: str) -> None:
    client = Client()
    client.force_login(role_user(role, Team.objects.get(pk=world.team_id)))

    response = client.get(concrete(route, world))

    assert response.status_code == session_expect(route, MATRIX[route]["GET"], role), (
        response.content[:300]
    )
