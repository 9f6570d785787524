"""The directory API: people and teams, and what every directory view shares
(docs/directory.md; memberships and identities: ledger.directory_history_apis).

Thin views: read and validate the body, one call into ledger.directory (every
write goes there, so history and audit stay in one place) or a selector, answer.
Reads need ``directory:read`` or ``directory:write``; writes need ``directory:write``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger import directory, directory_schemas, directory_selectors
from ledger.apis import PAGE_PARAMETERS
from ledger.directory_selectors import referenced
from ledger.errors import InvalidInput, NotFound
from ledger.http import ApiError, OrjsonRenderer, parse_json, read_body, require_json
from ledger.models import ApiKey, Person, Team
from ledger.openapi import errors
from ledger.renderers import CsvRenderer

API = directory.Origin.API
READ_DOC = "Needs `directory:read` or `directory:write`."
WRITE_DOC = "Needs `directory:write`."
BOOL = {"type": "string", "enum": ["true", "false"]}


class DirectoryView(APIView):
    # Listings also answer CSV (?format=csv or Accept: text/csv); writes answer JSON.
    csv_listing = False
    # People move between teams, identities and unmapped actors belong to none:
    # the directory is read and written with every team (ledger.auth.HasScope).
    every_team = "the directory spans every team"

    def required_scopes_for(self, method: str) -> tuple[str, ...]:
        if method in ("GET", "HEAD", "OPTIONS"):
            return (ApiKey.Scope.DIRECTORY_READ, ApiKey.Scope.DIRECTORY_WRITE)
        return (ApiKey.Scope.DIRECTORY_WRITE,)

    def get_renderers(self) -> list[Any]:
        request = getattr(self, "request", None)
        if self.csv_listing and request is not None and request.method == "GET":
            return [OrjsonRenderer(), CsvRenderer()]
        return [OrjsonRenderer()]


FORMAT = OpenApiParameter(
    "format", str, enum=["json", "csv"], description="csv: the rows as CSV (or Accept: text/csv)."
)


def body_of(
    request: Request,
    schema: type[serializers.Serializer],
    *,
    partial: bool = False,
    fixed: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON object of the body, validated by ``schema``. Unknown fields and
    ``fixed`` ones (name -> why they cannot be sent) are refused by name."""
    raw = read_body(request._request)
    payload: Any = {}
    if raw:
        require_json(request._request)
        payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise ApiError(400, "validation_error", "Send one JSON object.")
    known = schema().fields
    problems = {
        str(name): [(fixed or {}).get(name, "unknown field")]
        for name in payload
        if name not in known
    }
    if problems:
        raise InvalidInput("The request is not valid.", problems)
    data = schema(data=payload, partial=partial)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def path_id(value: int, what: str) -> int:
    # The URL converter takes any digits; the database holds 64-bit ids.
    if value >= 2**63:
        raise NotFound(f"No {what} with id {value}.")
    return value


_LIST_Q = OpenApiParameter("q", str, description="A part of the name or email, any case.")


class PeopleView(DirectoryView):
    csv_listing = True

    @extend_schema(
        operation_id="people_list",
        summary="List people",
        description=f"{READ_DOC} Newest first; follow next_cursor.",
        parameters=[
            OpenApiParameter("team", str, description="Team slug: people in it now."),
            OpenApiParameter("active", BOOL),
            OpenApiParameter("email", str, description="Exact email, any case."),
            _LIST_Q,
            *PAGE_PARAMETERS,
            FORMAT,
        ],
        responses={200: directory_schemas.PersonPage, **errors(400, 401, 403)},
        tags=["directory"],
    )
    def get(self, request: Request) -> Response:
        return Response(directory_selectors.people_list(query=request.query_params).as_dict())

    @extend_schema(
        operation_id="people_create",
        summary="Create a person",
        description=(
            f"{WRITE_DOC} Their email also becomes an identity. A duplicate email or "
            "external_id is a 409 with `existing_id`."
        ),
        request=directory_schemas.PersonIn,
        responses={201: directory_schemas.PersonOut, **errors(400, 401, 403, 409, 413, 415)},
        tags=["directory"],
    )
    def post(self, request: Request) -> Response:
        data = body_of(request, directory_schemas.PersonIn)
        data["manager"] = referenced(Person, "manager", data.get("manager"))
        person = directory.person_create(origin=API, **data)
        return Response(directory_selectors.person_rows([person])[0], status=201)


class PersonDetailView(DirectoryView):
    @extend_schema(
        operation_id="people_detail",
        summary="One person",
        description=READ_DOC,
        responses={200: directory_schemas.PersonOut, **errors(400, 401, 403, 404)},
        tags=["directory"],
    )
    def get(self, request: Request, person_id: int) -> Response:
        person = directory_selectors.person_get(path_id(person_id, "person"))
        return Response(directory_selectors.person_rows([person])[0])

    @extend_schema(
        operation_id="people_update",
        summary="Change a person",
        description=(
            f"{WRITE_DOC} `active: false` deactivates them: every membership ends now, "
            "their past work stays theirs. A new email also becomes an identity."
        ),
        request=directory_schemas.PersonIn,
        responses={200: directory_schemas.PersonOut, **errors(400, 401, 403, 404, 409, 413, 415)},
        tags=["directory"],
    )
    def patch(self, request: Request, person_id: int) -> Response:
        person = directory_selectors.person_get(path_id(person_id, "person"))
        data = body_of(request, directory_schemas.PersonIn, partial=True)
        if "manager" in data:
            data["manager"] = referenced(Person, "manager", data["manager"])
        person = directory.person_update(person=person, origin=API, **data)
        return Response(directory_selectors.person_rows([person])[0])


class TeamsView(DirectoryView):
    csv_listing = True

    @extend_schema(
        operation_id="teams_list",
        summary="List teams",
        description=f"{READ_DOC} Newest first; follow next_cursor.",
        parameters=[
            OpenApiParameter("parent", str, description="Parent team's slug."),
            OpenApiParameter("status", str, enum=["confirmed", "discovered"]),
            OpenApiParameter("q", str, description="A part of the slug or name, any case."),
            *PAGE_PARAMETERS,
            FORMAT,
        ],
        responses={200: directory_schemas.TeamPage, **errors(400, 401, 403)},
        tags=["directory"],
    )
    def get(self, request: Request) -> Response:
        return Response(directory_selectors.teams_list(query=request.query_params).as_dict())

    @extend_schema(
        operation_id="teams_create",
        summary="Create a team",
        description=(
            f"{WRITE_DOC} A team with no parent is a department. A slug or external_id "
            "in use is a 409 with `existing_id`."
        ),
        request=directory_schemas.TeamIn,
        responses={201: directory_schemas.TeamOut, **errors(400, 401, 403, 409, 413, 415)},
        tags=["directory"],
    )
    def post(self, request: Request) -> Response:
        data = body_of(request, directory_schemas.TeamIn)
        data["parent"] = referenced(Team, "parent", data.get("parent"))
        team = directory.team_create(origin=API, **data)
        return Response(directory_selectors.team_rows([team])[0], status=201)


class TeamDetailView(DirectoryView):
    @extend_schema(
        operation_id="teams_detail",
        summary="One team",
        description=READ_DOC,
        responses={200: directory_schemas.TeamOut, **errors(400, 401, 403, 404)},
        tags=["directory"],
    )
    def get(self, request: Request, team_id: int) -> Response:
        team = directory_selectors.team_get(path_id(team_id, "team"))
        return Response(directory_selectors.team_rows([team])[0])

    @extend_schema(
        operation_id="teams_update",
        summary="Change a team",
        description=(
            f"{WRITE_DOC} The slug never changes (records name the team by it). A parent "
            "that would make a cycle is refused. Reports read the tree at query time, so a "
            "new parent or cost centre shows at once, past periods included."
        ),
        request=directory_schemas.TeamPatchIn,
        responses={200: directory_schemas.TeamOut, **errors(400, 401, 403, 404, 409, 413, 415)},
        tags=["directory"],
    )
    def patch(self, request: Request, team_id: int) -> Response:
        team = directory_selectors.team_get(path_id(team_id, "team"))
        data = body_of(
            request,
            directory_schemas.TeamPatchIn,
            partial=True,
            fixed={"slug": "cannot be changed: records name the team by its slug"},
        )
        if "parent" in data:
            data["parent"] = referenced(Team, "parent", data["parent"])
        team = directory.team_update(team=team, origin=API, **data)
        return Response(directory_selectors.team_rows([directory_selectors.team_get(team.pk)])[0])
