"""``/oidc/login/`` and ``/oidc/callback/``: sign in to the admin and the dashboard
with the company's identity provider.

A refused sign-in (bad signature, wrong audience, expired token, a state or
nonce already used or never issued, an unverified email) is a 400 page saying
only that sign-in failed; the reason goes to the log, never to the browser.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_safe

from awu.signin.accounts import account_sign_in
from awu.signin.client import oidc_client, oidc_enabled

logger = logging.getLogger(__name__)

BACKEND = "awu.signin.backends.OidcSessionBackend"
_NEXT = "awu_oidc_next"


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("dashboard")


@require_safe
def oidc_login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider; ``next`` is where it comes back to."""
    if not oidc_enabled():
        return HttpResponse("Sign-in with an identity provider is not configured.", status=404)
    request.session[_NEXT] = _safe_next(request, request.GET.get("next"))
    redirect_uri = request.build_absolute_uri(reverse("oidc-callback"))
    response: HttpResponse = oidc_client().authorize_redirect(request, redirect_uri)
    return response


@require_safe
def oidc_callback(request: HttpRequest) -> HttpResponse:
    if not oidc_enabled():
        return HttpResponse("Sign-in with an identity provider is not configured.", status=404)
    client = oidc_client()
    try:
        issuer = str(client.load_server_metadata()["issuer"])
        token = client.authorize_access_token(
            request,
            leeway=settings.AWU_OIDC_CLOCK_SKEW_SECONDS,
            # Authlib checks the audience only when told to: the ID token must
            # name this client (OIDC Core 3.1.3.7), whatever its azp says.
            claims_options={
                "iss": {"essential": True, "values": [issuer]},
                "aud": {"essential": True, "values": [settings.AWU_OIDC_CLIENT_ID]},
            },
        )
        claims = token.get("userinfo")
        if not claims:
            raise ValueError("the token response carried no ID token")
        user = account_sign_in(issuer=issuer, claims=dict(claims))
    except Exception as exc:  # every failure of a sign-in is a refusal, never a 500
        logger.warning("OIDC sign-in refused: %s: %s", type(exc).__name__, exc)
        return render(request, "signin/refused.html", status=400)
    login(request, user, backend=BACKEND)
    return HttpResponseRedirect(request.session.pop(_NEXT, None) or reverse("dashboard"))
