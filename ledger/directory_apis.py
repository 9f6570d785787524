"""The directory API: people, teams, memberships and identities, for companies
without SCIM (docs/directory.md).

Thin views: read and validate the body, one call into ledger.directory (every
write goes there, so history and audit stay in one place) or a selector, answer.
Reads need ``directory:read`` or ``directory:write``; writes need ``directory:write``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger import directory, directory_schemas, directory_selectors
from ledger.apis import PAGE_PARAMETERS
from ledger.directory_selectors import referenced
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.http import ApiError, OrjsonRenderer, parse_json, read_body, require_json
from ledger.models import ApiKey, Person, Team
from ledger.openapi import errors
from ledger.query import choice, text
from ledger.renderers import CsvRenderer

API = directory.Origin.API
_READ_DOC = "Needs `directory:read` or `directory:write`."
_WRITE_DOC = "Needs `directory:write`."
_BOOL = {"type": "string", "enum": ["true", "false"]}


class DirectoryView(APIView):
    # Listings also answer CSV (?format=csv or Accept: text/csv); writes answer JSON.
    csv_listing = False

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


def _path_id(value: int, what: str) -> int:
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
        description=f"{_READ_DOC} Newest first; follow next_cursor.",
        parameters=[
            OpenApiParameter("team", str, description="Team slug: people in it now."),
            OpenApiParameter("active", _BOOL),
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
            f"{_WRITE_DOC} Their email also becomes an identity. A duplicate email or "
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
        description=_READ_DOC,
        responses={200: directory_schemas.PersonOut, **errors(400, 401, 403, 404)},
        tags=["directory"],
    )
    def get(self, request: Request, person_id: int) -> Response:
        person = directory_selectors.person_get(_path_id(person_id, "person"))
        return Response(directory_selectors.person_rows([person])[0])

    @extend_schema(
        operation_id="people_update",
        summary="Change a person",
        description=(
            f"{_WRITE_DOC} `active: false` deactivates them: every membership ends now, "
            "their past work stays theirs. A new email also becomes an identity."
        ),
        request=directory_schemas.PersonIn,
        responses={200: directory_schemas.PersonOut, **errors(400, 401, 403, 404, 409, 413, 415)},
        tags=["directory"],
    )
    def patch(self, request: Request, person_id: int) -> Response:
        person = directory_selectors.person_get(_path_id(person_id, "person"))
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
        description=f"{_READ_DOC} Newest first; follow next_cursor.",
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
            f"{_WRITE_DOC} A team with no parent is a department. A slug or external_id "
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
        description=_READ_DOC,
        responses={200: directory_schemas.TeamOut, **errors(400, 401, 403, 404)},
        tags=["directory"],
    )
    def get(self, request: Request, team_id: int) -> Response:
        team = directory_selectors.team_get(_path_id(team_id, "team"))
        return Response(directory_selectors.team_rows([team])[0])

    @extend_schema(
        operation_id="teams_update",
        summary="Change a team",
        description=(
            f"{_WRITE_DOC} The slug never changes (records name the team by it). A parent "
            "that would make a cycle is refused. Reports read the tree at query time, so a "
            "new parent or cost centre shows at once, past periods included."
        ),
        request=directory_schemas.TeamPatchIn,
        responses={200: directory_schemas.TeamOut, **errors(400, 401, 403, 404, 409, 413, 415)},
        tags=["directory"],
    )
    def patch(self, request: Request, team_id: int) -> Response:
        team = directory_selectors.team_get(_path_id(team_id, "team"))
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


_HISTORY = OpenApiParameter(
    "include", str, enum=["history"], description="history: retracted rows too."
)


class MembershipsView(DirectoryView):
    csv_listing = True

    @extend_schema(
        operation_id="memberships_list",
        summary="List memberships",
        description=(
            f"{_READ_DOC} The rows in force (`include=history`: retracted ones too), with "
            "when each was valid (`valid_from`, `valid_to`) and when it became known "
            "(`recorded_at`, `retracted_at`, `origin`)."
        ),
        parameters=[
            OpenApiParameter("person", int, description="Person id."),
            OpenApiParameter("team", str, description="Team slug."),
            OpenApiParameter("current", _BOOL, description="true: valid now; false: not."),
            _HISTORY,
            *PAGE_PARAMETERS,
            FORMAT,
        ],
        responses={200: directory_schemas.MembershipPage, **errors(400, 401, 403)},
        tags=["directory"],
    )
    def get(self, request: Request) -> Response:
        page = directory_selectors.memberships_list(query=request.query_params)
        return Response(page.as_dict())

    @extend_schema(
        operation_id="memberships_create",
        summary="Put a person in a team",
        description=(
            f"{_WRITE_DOC} Without `valid_from` it starts now, except a person's first "
            "membership ever, which reaches back to their earlier work. With `valid_to` it "
            "records a past membership. 200 when the person is already in the team."
        ),
        request=directory_schemas.MembershipIn,
        responses={
            201: directory_schemas.MembershipOut,
            200: OpenApiResponse(
                directory_schemas.MembershipOut, description="Already in the team: that row."
            ),
            **errors(400, 401, 403, 413, 415),
        },
        tags=["directory"],
    )
    def post(self, request: Request) -> Response:
        data = body_of(request, directory_schemas.MembershipIn)
        person = referenced(Person, "person", data["person"])
        team = referenced(Team, "team", data["team"])
        if not person.active:
            raise InvalidInput("The request is not valid.", {"person": ["is deactivated"]})
        valid_from, valid_to = data.get("valid_from"), data.get("valid_to")
        if valid_to is not None:
            if valid_from is None:
                raise InvalidInput(
                    "The request is not valid.", {"valid_from": ["give it with valid_to"]}
                )
            row = directory.membership_add(
                person=person, team=team, valid_from=valid_from, valid_to=valid_to, origin=API
            )
            return Response(directory_selectors.membership_row(row), status=201)
        already = person.memberships.filter(
            team=team, valid_to__isnull=True, retracted_at__isnull=True
        ).exists()
        row = directory.membership_start(
            person=person, team=team, valid_from=valid_from, origin=API
        )
        return Response(directory_selectors.membership_row(row), status=200 if already else 201)


class MembershipEndView(DirectoryView):
    @extend_schema(
        operation_id="memberships_end",
        summary="End a membership",
        description=(
            f"{_WRITE_DOC} Ends it at `at` (default now; exclusive). The row is kept as "
            "history and its ended successor (a new id) is answered."
        ),
        request=directory_schemas.MembershipEndIn,
        responses={
            200: directory_schemas.MembershipOut,
            **errors(400, 401, 403, 404, 409, 413, 415),
        },
        tags=["directory"],
    )
    def post(self, request: Request, membership_id: int) -> Response:
        row = directory_selectors.membership_get(_path_id(membership_id, "membership"))
        at = body_of(request, directory_schemas.MembershipEndIn).get("at")
        if row.valid_to is not None:
            raise Conflict(
                "The membership has already ended.",
                {"membership": [f"ended at {row.valid_to.isoformat()}"]},
                existing=row.pk,
            )
        if at is not None and at <= row.valid_from:
            raise InvalidInput(
                "The request is not valid.",
                {"at": [f"must be after valid_from ({row.valid_from.isoformat()})"]},
            )
        ended = directory.membership_end(row, at=at, origin=API)
        assert ended is not None  # it ends after it began
        return Response(directory_selectors.membership_row(ended))


class IdentitiesView(DirectoryView):
    csv_listing = True

    @extend_schema(
        operation_id="identities_list",
        summary="List identities",
        description=f"{_READ_DOC} The aliases tools know people by.",
        parameters=[
            OpenApiParameter("person", int, description="Person id."),
            OpenApiParameter("value", str, description="Exact value."),
            OpenApiParameter("q", str, description="A part of the value, any case."),
            _HISTORY,
            *PAGE_PARAMETERS,
            FORMAT,
        ],
        responses={200: directory_schemas.IdentityPage, **errors(400, 401, 403)},
        tags=["directory"],
    )
    def get(self, request: Request) -> Response:
        page = directory_selectors.identities_list(query=request.query_params)
        return Response(page.as_dict())

    @extend_schema(
        operation_id="identities_create",
        summary="Map an alias to a person",
        description=(
            f"{_WRITE_DOC} Records carrying the alias count for the person, past ones "
            "included. An alias mapped to someone else is a 409 with `existing_id` (that "
            "person) unless `remap=true`. 200 when already mapped to this person."
        ),
        parameters=[OpenApiParameter("remap", _BOOL, description="Move it from another person.")],
        request=directory_schemas.IdentityIn,
        responses={
            201: directory_schemas.IdentityOut,
            200: OpenApiResponse(directory_schemas.IdentityOut, description="Already mapped."),
            **errors(400, 401, 403, 409, 413, 415),
        },
        tags=["directory"],
    )
    def post(self, request: Request) -> Response:
        remap = choice(text(request.query_params, "remap"), "remap", ("true", "false"))
        data = body_of(request, directory_schemas.IdentityIn)
        person = referenced(Person, "person", data["person"])
        row, new = directory.identity_claim(
            value=data["value"], person=person, remap=remap == "true", origin=API
        )
        return Response(directory_selectors.identity_row(row), status=201 if new else 200)


class IdentityDetailView(DirectoryView):
    @extend_schema(
        operation_id="identities_unmap",
        summary="Unmap an alias",
        description=f"{_WRITE_DOC} The mapping is retracted and kept as history.",
        responses={204: None, **errors(401, 403, 404)},
        tags=["directory"],
    )
    def delete(self, request: Request, identity_id: int) -> Response:
        row = directory_selectors.identity_get(_path_id(identity_id, "identity"))
        directory.identity_unmap(value=row.value, origin=API)
        return Response(status=204)
