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
from ledger import auth, directory
from ledger.models import Person, Team
from tests.awu.reports import build
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


def test_admin_pages_need_a_staff_login(client: Client, world: World) -> None:
    assert client.get("/admin/").status_code == 302
    User.objects.create_user("plain", password="a-long-password-1")
    client.login(username="plain", password="a-long-password-1")
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"

    User.objects.create_user("staff", password="a-long-password-2", is_staff=True)
    client.login(username="staff", password="a-long-password-2")
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
    User.objects.create_user("staff", password="a-long-password-3", is_staff=True)
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
