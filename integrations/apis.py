"""The unmapped-actors API: who the ledger sees but cannot attribute, and mapping them.

Thin views over ``integrations.selectors.unmapped_actors`` and
``integrations.services.unmapped_actor_map`` (the admin's mapping page runs the
same two). Reading needs ``directory:read`` (or ``directory:write``); mapping
needs ``directory:write``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.models import ActorProposal
from integrations.selectors import UnmappedActor, unmapped_actors
from integrations.services import unmapped_actor_map
from ledger import clock
from ledger.directory import Origin
from ledger.directory_apis import FORMAT, DirectoryView, body_of
from ledger.directory_selectors import referenced
from ledger.errors import InvalidInput
from ledger.models import Identity, Person
from ledger.openapi import errors
from ledger.query import page_limit, parse_bound, text

DEFAULT_WINDOW_DAYS = 90


class ProposalOut(serializers.Serializer):
    id = serializers.IntegerField()
    person = serializers.IntegerField()
    person_name = serializers.CharField()
    email = serializers.CharField(help_text="The email the vendor gave with the login.")
    vendor = serializers.CharField()
    seen = serializers.IntegerField(help_text="Deliveries that named the pair.")
    last_seen_at = serializers.DateTimeField()


class UnmappedActorOut(serializers.Serializer):
    actor = serializers.CharField()
    events = serializers.IntegerField()
    usage_records = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    spend_usd = serializers.CharField(help_text="Priced spend, a decimal string.")
    unpriced_records = serializers.IntegerField()
    work_units = serializers.IntegerField(help_text="Work units their events triggered.")
    awus_completed = serializers.CharField(help_text="AWUs credited to those units.")
    proposals = ProposalOut(many=True)


class UnmappedActorList(serializers.Serializer):
    results = UnmappedActorOut(many=True)
    since = serializers.DateTimeField()


class MapIn(serializers.Serializer):
    actor = serializers.CharField(max_length=254, required=False)
    person = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Map to this person; left out: a person named after the actor is created "
        "(or the person whose email the actor is).",
    )
    proposal = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Accept this proposal (give it alone).",
    )


class MappedOut(serializers.Serializer):
    actor = serializers.CharField()
    identity = serializers.IntegerField()
    person = serializers.IntegerField()
    person_name = serializers.CharField()


def _proposal_row(p: ActorProposal) -> dict[str, Any]:
    return {
        "id": p.pk,
        "person": p.person_id,
        "person_name": p.person.name,
        "email": p.email,
        "vendor": p.vendor,
        "seen": p.seen,
        "last_seen_at": p.last_seen_at,
    }


def _row(a: UnmappedActor) -> dict[str, Any]:
    return {
        "actor": a.actor,
        "events": a.events,
        "usage_records": a.usage_records,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "spend_usd": format(a.spend_usd, "f"),
        "unpriced_records": a.unpriced_records,
        "work_units": a.work_units,
        "awus_completed": format(a.awus_completed, "f"),
        "proposals": [_proposal_row(p) for p in a.proposals],
    }


class UnmappedActorsView(DirectoryView):
    csv_listing = True

    @extend_schema(
        operation_id="unmapped_actors_list",
        summary="Actors no identity maps to a person",
        description=(
            "Needs `directory:read` (or `directory:write`). Actors seen on events and token "
            "usage since `since` (default 90 days ago) that no identity maps, busiest "
            "first: their counts, first and last seen, spend and work units, and the "
            "people proposed for them (a vendor gave the login with an email that is "
            "theirs). Their records count for no person until mapped."
        ),
        parameters=[
            OpenApiParameter("since", str, description="Date or RFC 3339; default 90 days ago."),
            OpenApiParameter("limit", int, description="At most this many, 1-500 (default 100)."),
            FORMAT,
        ],
        responses={200: UnmappedActorList, **errors(400, 401, 403)},
        tags=["directory"],
    )
    def get(self, request: Request) -> Response:
        raw_since = text(request.query_params, "since")
        since = (
            parse_bound(raw_since, field="since", end=False)
            if raw_since
            else clock.now() - timedelta(days=DEFAULT_WINDOW_DAYS)
        )
        limit = page_limit(text(request.query_params, "limit"))
        rows = unmapped_actors(since=since, limit=limit)
        return Response({"results": [_row(a) for a in rows], "since": since})


class UnmappedActorMapView(DirectoryView):
    @extend_schema(
        operation_id="unmapped_actors_map",
        summary="Map an actor to a person, or accept a proposal",
        description=(
            'Needs `directory:write`. `{"actor": ..., "person": id}` maps it to that '
            "person (409 with `existing_id` when it is mapped to someone else); without "
            "`person` a person named after the actor is created (or the person whose email "
            'it is); `{"proposal": id}` accepts a proposal. Records carrying the actor '
            "then count for the person, past ones included, at the next refresh."
        ),
        request=MapIn,
        responses={
            201: MappedOut,
            200: OpenApiResponse(MappedOut, description="Already mapped to that person."),
            **errors(400, 401, 403, 409, 413, 415),
        },
        tags=["directory"],
    )
    def post(self, request: Request) -> Response:
        data = body_of(request, MapIn)
        proposal_id = data.get("proposal")
        if proposal_id is not None:
            if "actor" in data or "person" in data:
                raise InvalidInput(
                    "The request is not valid.", {"proposal": ["give a proposal alone"]}
                )
            proposal = (
                ActorProposal.objects.select_related("person")
                .filter(pk=proposal_id, status=ActorProposal.Status.OPEN)
                .first()
            )
            if proposal is None:
                raise InvalidInput(
                    "The request is not valid.",
                    {"proposal": [f"no open proposal with id {proposal_id}"]},
                )
            actor, person = proposal.actor, proposal.person
        else:
            actor = (data.get("actor") or "").strip()
            if not actor:
                raise InvalidInput("The request is not valid.", {"actor": ["required"]})
            person = referenced(Person, "person", data.get("person"))
        before = Identity.objects.filter(value=actor).first()
        identity = unmapped_actor_map(actor=actor, person=person, origin=Origin.API)
        created = before is None or before.pk != identity.pk
        return Response(
            {
                "actor": identity.value,
                "identity": identity.pk,
                "person": identity.person_id,
                "person_name": identity.person.name,
            },
            status=201 if created else 200,
        )
