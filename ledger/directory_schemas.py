"""Input and output shapes of the directory API (people, teams, memberships, identities).

Inputs are DRF serializers: they validate each field and name it in the 400, and
drf-spectacular documents them from the same code. Outputs are built as dicts by
ledger.directory_selectors; the serializers below only document them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger.errors import InvalidInput
from ledger.query import parse_bound

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


@extend_schema_field(OpenApiTypes.STR)
class Moment(serializers.Field):
    """A date (YYYY-MM-DD: that day's start in UTC) or an RFC 3339 timestamp with an offset."""

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            raise serializers.ValidationError("give a date (YYYY-MM-DD) or an RFC 3339 timestamp")
        try:
            return parse_bound(data, field=self.field_name or "", end=False)
        except InvalidInput as exc:
            raise serializers.ValidationError(next(iter(exc.errors.values()))) from exc

    def to_representation(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value


def _text(max_length: int, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, trim_whitespace=True, **kwargs)


# --- Inputs -------------------------------------------------------------------------------


class PersonIn(serializers.Serializer):
    """A person to create, or (every field optional) the fields of a PATCH."""

    name = _text(200)
    email = serializers.EmailField(max_length=254, required=False, allow_null=True)
    external_id = _text(200, required=False, allow_null=True)
    active = serializers.BooleanField(required=False)
    department = _text(200, required=False, allow_blank=True)
    cost_centre = _text(100, required=False, allow_blank=True)
    manager = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, help_text="Person id."
    )


class TeamIn(serializers.Serializer):
    """A team to create; a PATCH sends any of the fields but ``slug``."""

    slug = serializers.RegexField(SLUG, help_text="Records name the team by it; never changes.")
    name = _text(200)
    domain = _text(40, required=False, allow_blank=True)
    parent = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_null=True, help_text="Parent team's slug."
    )
    cost_centre = _text(100, required=False, allow_blank=True)
    external_id = _text(200, required=False, allow_null=True)


class TeamPatchIn(TeamIn):
    """The fields a PATCH may change: all of a team's but its slug."""

    slug = None  # type: ignore[assignment]


class MembershipIn(serializers.Serializer):
    person = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Person id.")
    team = serializers.CharField(max_length=100, help_text="Team slug.")
    valid_from = Moment(
        required=False,
        help_text="Default: now, or the beginning for the person's first membership ever.",
    )
    valid_to = Moment(required=False, help_text="Exclusive; give it for a past membership.")


class MembershipEndIn(serializers.Serializer):
    at = Moment(required=False, help_text="When it ends (exclusive); default now.")


class IdentityIn(serializers.Serializer):
    value = _text(254, help_text="The alias as tools send it: an email, github:octocat, ...")
    person = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Person id.")


# --- Outputs (documentation) --------------------------------------------------------------


class PersonOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    active = serializers.BooleanField()
    department = serializers.CharField()
    cost_centre = serializers.CharField()
    manager = serializers.IntegerField(allow_null=True)
    teams = serializers.ListField(
        child=serializers.CharField(), help_text="Slugs of the teams they are in now."
    )
    identities = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class TeamOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    domain = serializers.CharField()
    status = serializers.ChoiceField(choices=["confirmed", "discovered"])
    parent = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    cost_centre = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    merged_into = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class MembershipOut(serializers.Serializer):
    id = serializers.IntegerField()
    person = serializers.IntegerField()
    team = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_to = serializers.DateTimeField(allow_null=True)
    recorded_at = serializers.DateTimeField()
    retracted_at = serializers.DateTimeField(allow_null=True)
    origin = serializers.CharField()


class IdentityOut(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.CharField()
    person = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    retracted_at = serializers.DateTimeField(allow_null=True)
    origin = serializers.CharField()


def _page(name: str, row: type[serializers.Serializer]) -> type[serializers.Serializer]:
    return type(
        name,
        (serializers.Serializer,),
        {"results": row(many=True), "next_cursor": serializers.CharField(allow_null=True)},
    )


PersonPage = _page("PersonPage", PersonOut)
TeamPage = _page("TeamPage", TeamOut)
MembershipPage = _page("MembershipPage", MembershipOut)
IdentityPage = _page("IdentityPage", IdentityOut)
