"""The reports API: efficiency, spend deciles, trend, work units, definitions.

Thin views: parse the query (awu.reports.query), call one selector, answer JSON
or CSV. Every read needs ``reports:read`` (or ``admin``), from a key or from the
session of a person signed in to the dashboard; the definition preview runs the
rules over real events and needs an ``admin`` key.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from awu.reports import selectors, serializers
from awu.reports.incidents import incidents_by_method
from awu.reports.maturity import projection_settings
from awu.reports.measures import amount
from awu.reports.query import parse_report_query, parse_trend_query
from awu.scoring.preview import definition_preview
from ledger import clock
from ledger.apis import PAGE_PARAMETERS
from ledger.auth import ApiKeyAuthentication, Principal, SessionReadAuthentication
from ledger.http import ApiError, OrjsonRenderer, parse_json, read_body, require_json
from ledger.models import ApiKey
from ledger.openapi import errors
from ledger.query import Keyset, choice, invalid, page_limit, parse_period, refs
from ledger.renderers import CsvRenderer

_FILTERS = [
    OpenApiParameter("from", str, description="Start: YYYY-MM-DD (inclusive) or RFC 3339."),
    OpenApiParameter(
        "to", str, description="End: YYYY-MM-DD (inclusive day) or RFC 3339 (exclusive)."
    ),
    OpenApiParameter(
        "team",
        str,
        description="Team slug. A caller limited to teams reads only theirs (every row is "
        "filtered to them); a team outside them is a 403.",
    ),
    OpenApiParameter("person", int, description="Person id."),
    OpenApiParameter(
        "domain", str, description="Domain (units: the definition's; spend: the team's)."
    ),
    OpenApiParameter("definition", str, description="Definition key (units only)."),
    OpenApiParameter("source", str, description="Usage source, slug or kind:slug (spend only)."),
    OpenApiParameter("provider", str, description="Provider (spend only)."),
    OpenApiParameter("model", str, description="Model (spend only)."),
    OpenApiParameter(
        "ai", str, enum=["assisted", "not"], description="AI-assisted units or not (units only)."
    ),
]
_FORMAT = OpenApiParameter(
    "format", str, enum=["json", "csv"], description="csv: the rows as CSV (or Accept: text/csv)."
)
_BASIS = [
    OpenApiParameter(
        "basis",
        str,
        enum=["triggered", "completed"],
        description="Which time puts a unit in the period (default triggered).",
    ),
    OpenApiParameter(
        "as_of",
        str,
        description="Reproduce the report as it stood at this instant (date or RFC 3339).",
    ),
]
_READ_ERRORS = errors(400, 401, 403)

_EXAMPLE_ROW = {
    "team": "payments",
    "period": "2026-10-01",
    "awus_completed": "42.000000",
    "awus_pending": "7.000000",
    "awus_voided": "3.000000",
    "awus_expired": "1.000000",
    "units": 53,
    "token_cost_usd": "1260.500000000",
    "tokens": {
        "input_tokens": 81200000,
        "output_tokens": 9100000,
        "cache_creation_input_tokens": 2500000,
        "cache_read_input_tokens": 310000000,
    },
    "awus_per_dollar": 0.03332,
    "cost_per_awu": "30.011904762",
    "durability": 0.933333,
    "awus_maturing": "7.000000",
    "projected_awus": "6.533333",
    "settles_by": "2026-11-30",
    "low_sample": False,
    "ai_assisted_share": 0.761905,
    "spend_tied_usd": {
        "completed": "640.000000000",
        "voided": "80.000000000",
        "pending": "40.000000000",
        "expired": "0.000000000",
        "none": "500.500000000",
    },
    "spend_tied_share": {
        "completed": 0.507735,
        "voided": 0.063467,
        "pending": 0.031733,
        "expired": 0.0,
        "none": 0.397065,
    },
    "incidents_per_completed_unit": 0.047619,
    "incidents_per_completed_unit_ai": 0.0625,
    "incidents_per_completed_unit_other": 0.0,
    "bugs_per_completed_unit": 0.095238,
    "bugs_per_completed_unit_ai": 0.09375,
    "bugs_per_completed_unit_other": 0.1,
    "review_hours_per_completed_unit": 5.5,
    "review_hours_per_completed_unit_ai": 6.25,
    "review_hours_per_completed_unit_other": 3.1,
    "quality_numerators": {
        "incidents": 2,
        "incidents_ai": 2,
        "incidents_other": 0,
        "bugs": 4,
        "bugs_ai": 3,
        "bugs_other": 1,
        "review_hours": "231.000000",
        "review_hours_ai": "200.000000",
        "review_hours_other": "31.000000",
    },
    "denominators": {
        "units": 53,
        "completed_units": 42,
        "completed_units_ai": 32,
        "completed_units_other": 10,
        "usage_records": 180233,
        "unpriced_records": 0,
        "people": 38,
        "pending_units": 7,
        "maturing_units": 7,
    },
}
_EXAMPLE_PROJECTION = {"lookback_days": 180, "min_settled_units": 20}


def caller_teams(request: Request) -> frozenset[int] | None:
    """The teams the caller reads (ledger.access): the key's limits, or the
    signed-in person's; None for every team."""
    principal = request.user
    return principal.teams if isinstance(principal, Principal) else frozenset()


class _ReportView(APIView):
    # A key, or the session of a person signed in to the dashboard (reads only).
    # Every read is limited to the caller's teams (``caller_teams``).
    authentication_classes = [ApiKeyAuthentication, SessionReadAuthentication]
    required_scopes = (ApiKey.Scope.REPORTS_READ,)
    renderer_classes = [OrjsonRenderer, CsvRenderer]


class EfficiencyView(_ReportView):
    @extend_schema(
        operation_id="reports_efficiency",
        summary="AWUs per token dollar, grouped",
        description=(
            "Needs `reports:read`. Per group: AWUs completed (the sum of AWU entries), "
            "pending, voided and expired, work units, token cost and tokens, AWUs per "
            "dollar, cost per AWU, durability, AI-assisted share, the share of spend tied "
            "to completed, voided or no units, and the denominators. A group whose usage "
            "is all unpriced (a model missing from the price book) has a null cost and "
            "ratios; one partly unpriced shows its priced cost, and "
            "`denominators.unpriced_records` counts the records left out. `model` groups spend "
            "only: its rows carry null AWU fields; `definition` groups units only: null "
            "spend fields. Filters that apply to one side only do the same."
        ),
        parameters=[
            OpenApiParameter(
                "group_by",
                str,
                many=True,
                description="team, department, cost_centre, person, domain, definition, "
                "model, week, month; comma-separated or repeated. department: the top of "
                "the team's org tree; cost_centre: the team's, or its nearest ancestor's. "
                "Both read the tree as it is now, past periods included.",
            ),
            *_BASIS,
            *_FILTERS,
            _FORMAT,
        ],
        responses={200: serializers.EfficiencyReport, **_READ_ERRORS},
        examples=[
            OpenApiExample(
                "Grouped by team and month",
                value={
                    "results": [_EXAMPLE_ROW],
                    "group_by": ["team", "month"],
                    "basis": "triggered",
                    "source": "rollups",
                    "projection": _EXAMPLE_PROJECTION,
                },
                response_only=True,
            )
        ],
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        query = parse_report_query(request.query_params, teams=caller_teams(request))
        rows = selectors.efficiency_report(query=query)
        return Response(
            {
                "results": rows,
                "group_by": list(query.group_by),
                "basis": query.basis,
                "source": "raw" if query.as_of or not query.day_aligned else "rollups",
                "projection": projection_settings(),
            }
        )


class SpendDecilesView(_ReportView):
    @extend_schema(
        operation_id="reports_spend_deciles",
        summary="People ranked by token spend into deciles",
        description=(
            "Needs `reports:read`. Decile 1 spends least, 10 most. Each decile: people, "
            "spend, AWUs completed, AWUs per dollar, the median of its people's cost per "
            "AWU, and its unpriced usage records (people rank by priced spend; spend that "
            "is all unpriced is null, not zero). `by=team` ranks within each team."
        ),
        parameters=[
            OpenApiParameter("by", str, enum=["person", "team"]),
            *_BASIS,
            *_FILTERS,
            _FORMAT,
        ],
        responses={200: serializers.DecileReport, **_READ_ERRORS},
        examples=[
            OpenApiExample(
                "Top decile",
                value={
                    "results": [
                        {
                            "decile": 10,
                            "people": 100,
                            "token_cost_usd": "402311.120000000",
                            "awus_completed": "1210.000000",
                            "awus_per_dollar": 0.003008,
                            "median_cost_per_awu": "288.100000000",
                            "min_person_cost_usd": "2510.000000000",
                            "max_person_cost_usd": "9120.400000000",
                            "unpriced_records": 0,
                        }
                    ],
                    "by": "person",
                },
                response_only=True,
            )
        ],
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        by = choice(request.query_params.get("by") or None, "by", ("person", "team")) or "person"
        query = parse_report_query(
            request.query_params, allowed_group_by=(), teams=caller_teams(request)
        )
        rows = selectors.spend_deciles(query=query, by_team=by == "team")
        return Response({"results": rows, "by": by})


class TrendView(_ReportView):
    @extend_schema(
        operation_id="reports_trend",
        summary="The efficiency measures per week or month",
        description=(
            "Needs `reports:read` and both `from` and `to`. One row per period, empty "
            "periods included; filter by `team` for one team. A period with units still "
            "open has a `settles_by` date: its figures are provisional (`awus_maturing`, "
            "`projected_awus`). `settled=only` ends the trend at the last period whose "
            "units have all settled. `markers` lists the rule versions published (or "
            "rescored) in the period: a jump there may be the rules, not the work."
        ),
        parameters=[
            OpenApiParameter("interval", str, enum=["week", "month"], description="Default month."),
            OpenApiParameter(
                "settled",
                str,
                enum=["all", "only"],
                description="only: end at the last period whose units have all settled.",
            ),
            *_BASIS,
            *_FILTERS,
            _FORMAT,
        ],
        responses={200: serializers.TrendReport, **_READ_ERRORS},
        examples=[
            OpenApiExample(
                "Monthly",
                value={
                    "results": [{**_EXAMPLE_ROW, "team": None}],
                    "interval": "month",
                    "projection": _EXAMPLE_PROJECTION,
                    "markers": [
                        {
                            "definition": "durable-change",
                            "version": 3,
                            "kind": "rescore",
                            "published_at": "2026-10-14T09:12:00Z",
                            "label": "durable-change v3 rescored",
                        }
                    ],
                },
                response_only=True,
            )
        ],
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        query, interval = parse_trend_query(request.query_params, teams=caller_teams(request))
        settled = choice(request.query_params.get("settled") or None, "settled", ("all", "only"))
        rows = selectors.trend_report(
            query=query, interval=interval, settled_only=settled == "only"
        )
        return Response(
            {
                "results": rows,
                "interval": interval,
                "projection": projection_settings(),
                "markers": selectors.rule_changes(query=query),
            }
        )


_UNIT_STATES = ("pending", "completed", "voided", "expired")


class IncidentsByMethodView(_ReportView):
    @extend_schema(
        operation_id="reports_incidents",
        summary="Incidents by attribution method",
        description=(
            "Needs `reports:read`. How the incidents opened in the period were tied to "
            "changes: `explicit` (the incident names the change), `deploy-window` (opened "
            "on the service within the window after a production deploy of it; the "
            "latest deploy's changes), `unattributed`. Per method: distinct incidents, "
            "(incident, unit) attributions, those from a deploy of several changes "
            "(`shared_attributions`), those that void their unit, and the share of all "
            "incidents opened (the denominator)."
        ),
        parameters=[
            OpenApiParameter("from", str, description="Start: YYYY-MM-DD or RFC 3339."),
            OpenApiParameter("to", str, description="End: YYYY-MM-DD (inclusive) or RFC 3339."),
            _FORMAT,
        ],
        responses={200: serializers.IncidentReport, **_READ_ERRORS},
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        start, stop = parse_period(request.query_params.get("from"), request.query_params.get("to"))
        rows = incidents_by_method(start=start, stop=stop, teams=caller_teams(request))
        return Response({"results": rows})


class WorkUnitsView(_ReportView):
    @extend_schema(
        operation_id="work_units_list",
        summary="List work units",
        description=(
            "Needs `reports:read`. Units not superseded by a rescore, newest first "
            "(`order=oldest`: in the order they were made); `from`/`to` filter the "
            "triggered time. Follow next_cursor."
        ),
        parameters=[
            OpenApiParameter("state", str, enum=list(_UNIT_STATES)),
            *[p for p in _FILTERS if p.name not in ("source", "provider", "model")],
            OpenApiParameter(
                "ref",
                str,
                many=True,
                description="A ref of the unit as kind:value, e.g. envelope:env-1 (repeat: all "
                "must match).",
            ),
            *PAGE_PARAMETERS,
            _FORMAT,
        ],
        responses={200: serializers.WorkUnitPage, **_READ_ERRORS},
        tags=["work units"],
    )
    def get(self, request: Request) -> Response:
        query = parse_report_query(
            request.query_params, allowed_group_by=(), teams=caller_teams(request)
        )
        state = choice(request.query_params.get("state") or None, "state", _UNIT_STATES)
        limit = page_limit(request.query_params.get("limit") or None)
        keyset = Keyset.from_query(
            order=request.query_params.get("order") or None,
            cursor=request.query_params.get("cursor") or None,
        )
        rows, next_cursor = selectors.work_units_list(
            query=query,
            state=state,
            refs=refs(request.query_params.getlist("ref")),
            keyset=keyset,
            limit=limit,
        )
        return Response({"results": rows, "next_cursor": next_cursor})


class WorkUnitDetailView(_ReportView):
    @extend_schema(
        operation_id="work_units_detail",
        summary="One work unit with its evidence chain and tied spend",
        description=(
            "Needs `reports:read`. The events that made it, the definition version, why it "
            "is pending, voided or expired, its entries, and the token spend whose refs "
            "reach its evidence (`method: exact`) or none. For a caller limited to teams, "
            "another team's unit (or one of no team) is a 404, as a missing one, and the "
            "tied spend is its teams' only."
        ),
        responses={200: serializers.WorkUnitDetail, **errors(400, 401, 403, 404)},
        tags=["work units"],
    )
    def get(self, request: Request, unit_id: int) -> Response:
        return Response(selectors.work_unit_detail(unit_id=unit_id, teams=caller_teams(request)))


class DefinitionsView(_ReportView):
    @extend_schema(
        operation_id="definitions_list",
        summary="List AWU definitions",
        description="Needs `reports:read`.",
        parameters=[OpenApiParameter("domain", str), _FORMAT],
        responses={200: serializers.DefinitionList, **errors(400, 401, 403)},
        tags=["definitions"],
    )
    def get(self, request: Request) -> Response:
        domain = request.query_params.get("domain") or None
        if domain is not None and ("\x00" in domain or len(domain) > 40):
            raise invalid("domain", "not a valid value")
        rows = selectors.definitions_list(domain=domain, teams=caller_teams(request))
        return Response({"results": rows})


class DefinitionDetailView(_ReportView):
    @extend_schema(
        operation_id="definitions_detail",
        summary="One AWU definition with its versions",
        description="Needs `reports:read`. Versions newest first.",
        responses={200: serializers.DefinitionDetail, **errors(400, 401, 403, 404)},
        tags=["definitions"],
    )
    def get(self, request: Request, definition_id: int) -> Response:
        return Response(
            selectors.definition_detail(definition_id=definition_id, teams=caller_teams(request))
        )


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


class DefinitionPreviewView(APIView):
    required_scopes = (ApiKey.Scope.ADMIN,)
    every_team = "a preview scores every team's events"

    @extend_schema(
        operation_id="definitions_preview",
        summary="Preview what a version would score over recent events",
        description=(
            "Needs `admin`. Runs the version (default: the latest) over the real events of "
            "the last `days` days and writes nothing."
        ),
        request=serializers.PreviewIn,
        responses={200: serializers.PreviewOut, **errors(400, 401, 403, 404, 415)},
        tags=["definitions"],
    )
    def post(self, request: Request, definition_id: int) -> Response:
        body = read_body(request._request)
        require_json(request._request)
        data = serializers.PreviewIn(data=parse_json(body))
        if not data.is_valid():
            raise ApiError(
                400,
                "validation_error",
                "The body is not valid.",
                {k: [str(e) for e in v] for k, v in data.errors.items()},
            )
        version = selectors.definition_version(
            definition_id=definition_id, number=data.validated_data.get("version")
        )
        preview = definition_preview(
            version=version, days=data.validated_data["days"], now=clock.now()
        )
        out = _json_ready(asdict(preview))
        out["credit"] = amount(preview.credit)
        for unit in out["sample"]:
            unit["units"] = amount(unit["units"])
        return Response(out)
