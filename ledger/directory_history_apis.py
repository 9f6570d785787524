"""The directory API's memberships and identities: the rows kept as history.

Every write goes through ledger.directory, which retracts and records rather than
edits; listings show the rows in force, or all of them with ``include=history``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import directory, directory_schemas, directory_selectors
from ledger.apis import PAGE_PARAMETERS
from ledger.directory_apis import (
    API,
    BOOL,
    FORMAT,
    READ_DOC,
    WRITE_DOC,
    DirectoryView,
    body_of,
    path_id,
)
from ledger.directory_selectors import referenced
from ledger.errors import Conflict, InvalidInput
from ledger.models import Person, Team
from ledger.openapi import errors
from ledger.query import choice, text

_HISTORY = OpenApiParameter(
    "include", str, enum=["history"], description="history: retracted rows too."
)


class MembershipsView(DirectoryView):
    csv_listing = True

    @extend_schema(
        operation_id="memberships_list",
        summary="List memberships",
        description=(
            f"{READ_DOC} The rows in force (`include=history`: retracted ones too), with "
            "when each was valid (`valid_from`, `valid_to`) and when it became known "
            "(`recorded_at`, `retracted_at`, `origin`)."
        ),
        parameters=[
            OpenApiParameter("person", int, description="Person id."),
            OpenApiParameter("team", str, description="Team slug."),
            OpenApiParameter("current", BOOL, description="true: valid now; false: not."),
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
            f"{WRITE_DOC} Without `valid_from` it starts now, except a person's first "
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
            f"{WRITE_DOC} Ends it at `at` (default now; exclusive). The row is kept as "
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
        row = directory_selectors.membership_get(path_id(membership_id, "membership"))
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
        description=f"{READ_DOC} The aliases tools know people by.",
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
            f"{WRITE_DOC} Records carrying the alias count for the person, past ones "
            "included. An alias mapped to someone else is a 409 with `existing_id` (that "
            "person) unless `remap=true`. 200 when already mapped to this person."
        ),
        parameters=[OpenApiParameter("remap", BOOL, description="Move it from another person.")],
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
        description=f"{WRITE_DOC} The mapping is retracted and kept as history.",
        responses={204: None, **errors(401, 403, 404)},
        tags=["directory"],
    )
    def delete(self, request: Request, identity_id: int) -> Response:
        row = directory_selectors.identity_get(path_id(identity_id, "identity"))
        directory.identity_unmap(value=row.value, origin=API)
        return Response(status=204)
