"""Sign-in to the admin and the dashboard with a real OpenID Connect provider.

The provider (oidc-provider, run with node on loopback) and the app (Django's live
server) talk HTTP; a browser is played by a requests session that fills in the
provider's log-in form. Attacks on the back channel go through a loopback proxy
that alters the provider's token response (tests/oidc/provider.py).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client

from awu.signin.group_map import parse_group_map
from awu.signin.models import OidcAccount
from ledger import access, directory
from ledger.models import AuditEvent, Identity, Person, RoleGrant
from ledger.teams import team_create
from tests.ledger.admin_forms import add_inline_row, form_data
from tests.oidc.provider import BackChannel, Provider, back_channel, running_provider

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "awu-ledger"
SECRET = "awu-ledger-test-secret-0123456789"
INTRUDER_ID = "another-app"
INTRUDER_SECRET = "another-app-test-secret-0123456789"
ACCOUNTS = {
    "alice": {
        "email": "Alice@Example.com",
        "email_verified": True,
        "name": "Alice",
        "groups": ["awu-admins"],
    },
    "vic": {"email": "vic@example.com", "email_verified": True, "groups": ["awu-viewers"]},
    "mallory": {"email": "mallory@example.com", "email_verified": False, "groups": []},
    "lea": {"email": "lea@example.com", "email_verified": True, "groups": ["awu-pay-leads"]},
}
GROUPS = "awu-admins=superuser; awu-viewers=viewer; awu-pay-leads=team_lead:payments,viewer:nowhere"


def _clients(live_server_url: str) -> list[dict[str, Any]]:
    callback = f"{live_server_url}/oidc/callback/"
    return [
        {"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uris": [callback]},
        {"client_id": INTRUDER_ID, "client_secret": INTRUDER_SECRET, "redirect_uris": [callback]},
    ]


@pytest.fixture
def provider(live_server: Any) -> Iterator[Provider]:
    with running_provider(clients=_clients(live_server.url), accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture
def configured(settings: Any, provider: Provider) -> Provider:
    settings.AWU_OIDC_METADATA_URL = provider.metadata_url
    settings.AWU_OIDC_CLIENT_ID = CLIENT_ID
    settings.AWU_OIDC_CLIENT_SECRET = SECRET
    settings.AWU_OIDC_SCOPES = "openid email profile groups"
    settings.AWU_OIDC_GROUPS = parse_group_map(GROUPS)
    settings.AWU_OIDC_CLOCK_SKEW_SECONDS = 0
    return provider


@pytest.fixture
def channel(settings: Any, configured: Provider) -> Iterator[BackChannel]:
    with back_channel(configured) as proxy:
        settings.AWU_OIDC_METADATA_URL = proxy.metadata_url
        yield proxy


@dataclass
class Attempt:
    browser: requests.Session
    authorize_url: str
    callback_url: str
    response: requests.Response

    @property
    def nonce(self) -> str:
        return parse_qs(urlparse(self.authorize_url).query)["nonce"][0]


_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.I)


def _through_provider(browser: requests.Session, url: str, login: str, stop_at: str) -> str:
    """Follow the provider's redirects and log-in form until it sends the browser to
    ``stop_at``; returns that URL (with the code and state)."""
    for _ in range(20):
        if url.startswith(stop_at):
            return url
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.is_redirect:
            url = urljoin(url, answer.headers["Location"])
            continue
        form = _FORM.search(answer.text)
        assert form is not None, answer.text[:2000]
        answer = browser.post(
            urljoin(url, form.group(1)),
            data={"prompt": "login", "login": login, "password": "any"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.is_redirect, answer.text[:2000]
        url = urljoin(url, answer.headers["Location"])
    raise AssertionError("the provider never sent the browser back")


def sign_in(live_server: Any, login: str = "alice", next_path: str = "/admin/") -> Attempt:
    browser = requests.Session()
    start = browser.get(
        f"{live_server.url}/oidc/login/", params={"next": next_path}, allow_redirects=False
    )
    assert start.status_code == 302, start.text[:500]
    authorize_url = start.headers["Location"]
    callback = _through_provider(browser, authorize_url, login, f"{live_server.url}/oidc/")
    response = browser.get(callback, allow_redirects=False, timeout=20)
    return Attempt(browser, authorize_url, callback, response)


def signed_in_to_admin(attempt: Attempt, live_server: Any) -> bool:
    page = attempt.browser.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10)
    return page.status_code == 200


def refused(attempt: Attempt, live_server: Any) -> bool:
    return attempt.response.status_code == 400 and not signed_in_to_admin(attempt, live_server)


def test_a_login_through_the_provider_signs_in_to_the_admin(
    live_server: Any, configured: Provider
) -> None:
    person = Person.objects.create(name="Alice", email="alice@example.com")

    attempt = sign_in(live_server)

    assert attempt.response.status_code == 302, attempt.response.text[:500]
    assert attempt.response.headers["Location"] == "/admin/"
    assert signed_in_to_admin(attempt, live_server)
    user = User.objects.get(email="alice@example.com")
    assert (user.username, user.is_staff, user.is_superuser) == ("alice@example.com", True, True)
    assert not user.has_usable_password()
    account = OidcAccount.objects.get(user=user)
    assert (account.subject, account.issuer, account.person_id) == (
        "alice",
        configured.issuer,
        person.pk,
    )
    assert AuditEvent.objects.filter(action="user.created", object_id=str(user.pk)).exists()


def test_the_dashboard_signs_in_the_same_way_and_groups_decide_the_admin(
    live_server: Any, configured: Provider
) -> None:
    attempt = sign_in(live_server, login="vic", next_path="/")

    assert attempt.response.headers["Location"] == "/"
    dashboard = attempt.browser.get(f"{live_server.url}/", allow_redirects=False, timeout=20)
    assert dashboard.status_code == 200
    assert not signed_in_to_admin(attempt, live_server)  # a viewer does not use the admin
    vic = User.objects.get(email="vic@example.com")
    grants = RoleGrant.objects.filter(user=vic).values_list("role", "team", "origin")
    assert list(grants) == [("viewer", None, "oidc")]
    assert list(vic.groups.values_list("name", flat=True)) == []


def test_a_second_sign_in_finds_the_same_user_by_subject(
    live_server: Any, configured: Provider
) -> None:
    sign_in(live_server)
    sign_in(live_server)

    assert User.objects.filter(email="alice@example.com").count() == 1
    assert OidcAccount.objects.count() == 1


def test_an_unverified_email_is_refused(live_server: Any, configured: Provider) -> None:
    attempt = sign_in(live_server, login="mallory")

    assert refused(attempt, live_server)
    assert not User.objects.filter(email="mallory@example.com").exists()


def _flip_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0xFF
    return ".".join([header, payload, base64.urlsafe_b64encode(raw).decode().rstrip("=")])


def test_an_id_token_with_a_bad_signature_is_refused(
    live_server: Any, channel: BackChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel.tamper = lambda body: {**body, "id_token": _flip_signature(body["id_token"])}

    attempt = sign_in(live_server)

    assert refused(attempt, live_server)
    assert "BadSignatureError" in caplog.text
    assert not User.objects.exists()


def test_an_id_token_for_another_audience_is_refused(
    live_server: Any, channel: BackChannel, configured: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    """A genuine token the provider issued to another app, with this sign-in's nonce,
    swapped into the token response."""
    stolen: dict[str, str] = {}

    def swap(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "id_token": stolen["id_token"]}

    browser = requests.Session()
    start = browser.get(f"{live_server.url}/oidc/login/", allow_redirects=False)
    query = parse_qs(urlparse(start.headers["Location"]).query)
    stolen["id_token"] = _token_for_another_app(live_server, configured, query["nonce"][0])
    channel.tamper = swap
    callback = _through_provider(
        browser, start.headers["Location"], "alice", f"{live_server.url}/oidc/"
    )
    response = browser.get(callback, allow_redirects=False, timeout=20)

    assert response.status_code == 400
    assert "Invalid claim: 'aud'" in caplog.text
    assert not User.objects.exists()


def _token_for_another_app(live_server: Any, provider: Provider, nonce: str) -> str:
    """Sign in to the other app as alice, with ``nonce``; its genuine ID token."""
    browser = requests.Session()
    verifier = "v" * 64
    import hashlib

    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    redirect_uri = f"{live_server.url}/oidc/callback/"
    authorize = requests.Request(
        "GET",
        f"{provider.issuer}/auth",
        params={
            "client_id": INTRUDER_ID,
            "response_type": "code",
            "scope": "openid email",
            "redirect_uri": redirect_uri,
            "state": "intruder-state",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    ).prepare()
    back = _through_provider(browser, str(authorize.url), "alice", redirect_uri)
    code = parse_qs(urlparse(back).query)["code"][0]
    token = requests.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(INTRUDER_ID, INTRUDER_SECRET),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return str(token.json()["id_token"])


def test_an_expired_id_token_is_refused(
    live_server: Any, settings: Any, configured: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider whose clock is 400 s behind issues ID tokens (valid 300 s) that
    expired 100 s ago; its log-in cookies (600 s) still work."""
    with running_provider(
        clients=_clients(live_server.url), accounts=ACCOUNTS, clock_skew=-400
    ) as late:
        settings.AWU_OIDC_METADATA_URL = late.metadata_url

        attempt = sign_in(live_server)

    assert refused(attempt, live_server)
    assert "ExpiredTokenError" in caplog.text
    assert not User.objects.exists()


def test_a_replayed_callback_state_is_refused(
    live_server: Any, configured: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    first = sign_in(live_server)
    assert first.response.status_code == 302

    again = first.browser.get(first.callback_url, allow_redirects=False, timeout=20)
    elsewhere = requests.get(first.callback_url, allow_redirects=False, timeout=20)

    assert again.status_code == 400
    assert elsewhere.status_code == 400
    assert caplog.text.count("MismatchingStateError") == 2


def test_a_callback_with_a_state_never_issued_is_refused(
    live_server: Any, configured: Provider
) -> None:
    browser = requests.Session()
    browser.get(f"{live_server.url}/oidc/login/", allow_redirects=False)

    forged = browser.get(
        f"{live_server.url}/oidc/callback/", params={"code": "x", "state": "forged"}, timeout=20
    )

    assert forged.status_code == 400
    assert not signed_in_to_admin(Attempt(browser, "", "", forged), live_server)


def test_a_replayed_id_token_with_an_old_nonce_is_refused(
    live_server: Any, channel: BackChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """The ID token of an earlier sign-in (genuine, unexpired, for this app) swapped
    into a new sign-in's token response: its nonce is the old one."""
    assert sign_in(live_server).response.status_code == 302
    earlier = channel.seen[-1]["id_token"]
    channel.tamper = lambda body: {**body, "id_token": earlier}

    attempt = sign_in(live_server)

    assert refused(attempt, live_server)
    assert "Invalid claim: 'nonce'" in caplog.text


def test_a_token_response_without_an_id_token_is_refused(
    live_server: Any, channel: BackChannel
) -> None:
    channel.tamper = lambda body: {k: v for k, v in body.items() if k != "id_token"}

    attempt = sign_in(live_server)

    assert refused(attempt, live_server)


def test_local_passwords_can_be_turned_off(settings: Any, client: Client) -> None:
    User.objects.create_user("local", password="a-long-password-1", is_staff=True)
    settings.AWU_PASSWORD_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = ["awu.signin.backends.OidcSessionBackend"]
    settings.AWU_OIDC_METADATA_URL = "http://127.0.0.1:9/.well-known/openid-configuration"

    dashboard = client.post("/login/", {"username": "local", "password": "a-long-password-1"})
    admin = client.post(
        "/admin/login/", {"username": "local", "password": "a-long-password-1", "next": "/admin/"}
    )
    page = client.get("/admin/login/")

    assert dashboard.status_code == 200  # the form again, not a redirect
    assert admin.status_code == 200
    assert client.get("/admin/").status_code == 302
    assert b'name="password"' not in page.content
    assert b"/oidc/login/" in page.content


def test_without_a_group_map_roles_given_in_the_admin_stay(
    live_server: Any, settings: Any, configured: Provider
) -> None:
    settings.AWU_OIDC_GROUPS = {}
    sign_in(live_server, login="vic")
    access.grant(user=User.objects.get(email="vic@example.com"), role=access.FINANCE)

    attempt = sign_in(live_server, login="vic")

    assert signed_in_to_admin(attempt, live_server)


def test_a_next_outside_the_site_is_not_followed(live_server: Any, configured: Provider) -> None:
    attempt = sign_in(live_server, next_path="https://evil.example/steal")

    assert attempt.response.status_code == 302
    assert attempt.response.headers["Location"] == "/"


def _as_client(attempt: Attempt) -> Client:
    """The browser's session, in a test client (to post admin forms as rendered)."""
    client = Client()
    client.cookies["sessionid"] = attempt.browser.cookies["sessionid"]
    return client


def test_a_lead_by_group_edits_their_teams_person_and_not_another_teams(
    live_server: Any, configured: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    payments = team_create(slug="payments", name="Payments")
    sales = team_create(slug="sales", name="Sales")
    pat = directory.person_create(name="Pat", email="pat@example.com")
    sam = directory.person_create(name="Sam", email="sam@example.com")
    directory.membership_start(person=pat, team=payments)
    directory.membership_start(person=sam, team=sales)

    attempt = sign_in(live_server, login="lea")

    assert signed_in_to_admin(attempt, live_server)
    lea = User.objects.get(email="lea@example.com")
    assert not lea.is_staff  # the role lets them in, not Django's flag
    grants = RoleGrant.objects.filter(user=lea).values_list("role", "team__slug", "origin")
    assert list(grants) == [("team_lead", "payments", "oidc")]
    # viewer:nowhere names no team: skipped, said in the log, the rest granted.
    assert "team 'nowhere', which does not exist" in caplog.text
    assert AuditEvent.objects.filter(action="role.granted", object_type="role").exists()

    browser = _as_client(attempt)
    page = browser.get(f"/admin/ledger/person/{pat.pk}/change/")
    assert page.status_code == 200
    data = form_data(page)
    add_inline_row(data, "identities", value="github:pat")
    saved = browser.post(f"/admin/ledger/person/{pat.pk}/change/", data)
    assert saved.status_code == 302, saved.content[:300]
    assert Identity.objects.get(value="github:pat").person_id == pat.pk

    assert browser.get(f"/admin/ledger/person/{sam.pk}/change/").status_code == 403
    forged = browser.post(f"/admin/ledger/person/{sam.pk}/change/", data)
    assert forged.status_code == 403
    assert not Identity.objects.filter(person=sam, value__startswith="github:").exists()


def test_each_sign_in_replaces_the_provider_grants_and_keeps_the_manual_ones(
    live_server: Any, settings: Any, configured: Provider
) -> None:
    team_create(slug="payments", name="Payments")
    sign_in(live_server, login="lea")
    lea = User.objects.get(email="lea@example.com")
    access.grant(user=lea, role=access.FINANCE, reason="by hand")
    settings.AWU_OIDC_GROUPS = parse_group_map("awu-pay-leads=viewer")

    sign_in(live_server, login="lea")

    grants = RoleGrant.objects.filter(user=lea).values_list("role", "team__slug", "origin")
    assert sorted(grants) == [("finance", None, "manual"), ("viewer", None, "oidc")]
    revoked = AuditEvent.objects.get(action="role.revoked")
    assert (revoked.before["role"], revoked.before["team"]) == ("team_lead", "payments")
    assert revoked.actor == "OIDC sign-in of lea@example.com"
