"""The alerts API: the listing (``reports:read``) and acknowledging (``admin``).

Thin views: parse, one selector or service, answer. A signed-in staff user may
acknowledge through the session as well (CSRF enforced); a key needs ``admin``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from awu.alerts import selectors, services
from awu.alerts.models import AlertState, Rule
from ledger import access
from ledger.apis import PAGE_PARAMETERS
from ledger.auth import ApiKeyAuthentication, Principal, SessionReadAuthentication
from ledger.http import OrjsonRenderer, read_body
from ledger.models import ApiKey
from ledger.openapi import errors
from ledger.query import Keyset, choice, page_limit, text
from ledger.renderers import CsvRenderer

_STATES = ("active", *AlertState.values)


class AlertRow(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.CharField(help_text="spend_pace, efficiency_drop or spend_outlier.")
    state = serializers.CharField(help_text="open, acknowledged or resolved.")
    team = serializers.CharField(allow_null=True)
    person = serializers.IntegerField(allow_null=True)
    person_name = serializers.CharField(allow_null=True)
    period_key = serializers.CharField(help_text="Month (YYYY-MM) or day (YYYY-MM-DD).")
    summary = serializers.CharField()
    details = serializers.DictField(help_text="The figures that made the rule fire.")
    opened_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)


class AlertPage(serializers.Serializer):
    results = AlertRow(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class RoleSessionAuthentication(SessionAuthentication):
    """A signed-in user holding a role, acting through the session, CSRF checked: for
    acknowledging the alerts of the teams they read (ledger.access), and nothing else
    (only the acknowledge view takes it)."""

    def enforce_csrf(self, request: Request) -> None:
        # Django's check reads the form token from request.POST: the Django request's,
        # since this API parses no form bodies (DRF's would answer 415).
        super().enforce_csrf(request._request)  # type: ignore[arg-type]

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        found = super().authenticate(request)
        if found is None:
            return None
        user = found[0]
        if not (user.is_active and access.has_any_role(user)):
            return None
        return Principal(
            key_id=0,
            name=f"user:{user.get_username()}",
            scopes=frozenset({ApiKey.Scope.ADMIN}),
            teams=access.visible_team_ids(user),
        ), None


class RoleSessionScheme(OpenApiAuthenticationExtension):
    """Documents RoleSessionAuthentication: a signed-in user's session, with CSRF."""

    target_class = "awu.alerts.apis.RoleSessionAuthentication"
    name = "RoleSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The session of a user signed in to the dashboard who holds a "
            "role, with the X-CSRFToken header: acknowledges the alerts of the teams the "
            "user reads.",
        }


class AlertsView(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionReadAuthentication]
    required_scopes = (ApiKey.Scope.REPORTS_READ,)
    renderer_classes = [OrjsonRenderer, CsvRenderer]

    @extend_schema(
        operation_id="alerts_list",
        summary="List alerts",
        description=(
            "Needs `reports:read`. Alerts newest first (`order=oldest` for the other way), "
            "one per rule, subject and period (docs/alerts.md). `state=active`: open or "
            "acknowledged. Follow next_cursor. CSV with `format=csv`."
        ),
        parameters=[
            OpenApiParameter("state", str, enum=list(_STATES)),
            OpenApiParameter("team", str, description="Team slug."),
            OpenApiParameter("rule", str, enum=list(Rule.values)),
            *PAGE_PARAMETERS,
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={200: AlertPage, **errors(400, 401, 403)},
        tags=["alerts"],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        state = choice(text(params, "state"), "state", _STATES)
        rule = choice(text(params, "rule"), "rule", tuple(Rule.values))
        limit = page_limit(params.get("limit") or None)
        keyset = Keyset.from_query(
            order=params.get("order") or None, cursor=params.get("cursor") or None
        )
        teams = request.user.teams  # type: ignore[union-attr]
        team = text(params, "team")
        access.require_team(teams, team)
        rows, next_cursor = selectors.alerts_list(
            # A caller limited to some teams (ledger.access) sees theirs.
            team_ids=teams,
            state=state,
            team=team,
            rule=rule,
            keyset=keyset,
            limit=limit,
        )
        return Response({"results": rows, "next_cursor": next_cursor})


class AlertAcknowledgeView(APIView):
    authentication_classes = [ApiKeyAuthentication, RoleSessionAuthentication]
    required_scopes = (ApiKey.Scope.ADMIN,)
    renderer_classes = [OrjsonRenderer]

    @extend_schema(
        operation_id="alert_acknowledge",
        summary="Acknowledge an alert",
        description=(
            "Needs `admin` (a key; a key limited to teams, their alerts), or the session "
            "of a signed-in user holding a role, with its CSRF token (the alerts of the "
            "teams they read). Moves an open alert to acknowledged, recording who and "
            "when, and notifies the channels once; acknowledging again answers the alert "
            "unchanged. 409 once resolved; 404 for an alert the caller may not read."
        ),
        request=None,
        responses={200: AlertRow, **errors(401, 403, 404, 409)},
        tags=["alerts"],
    )
    def post(self, request: Request, alert_id: int) -> Response:
        read_body(request._request)  # no body is needed; an oversize one is still a 413
        principal: Any = request.user
        alert = services.alert_acknowledge(
            alert_id=alert_id, actor=principal.name, teams=principal.teams
        )
        return Response(selectors.alert_row(alert))
