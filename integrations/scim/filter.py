"""SCIM filters (RFC 7644 3.4.2.2) as Django queries.

scim2-models parses and checks the filter against the resource model; this
module maps the attributes we store onto model fields. An attribute we keep no
column for is refused as ``invalidFilter`` rather than silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from scim2_models import SCIMException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from integrations.scim.common import as_pk
from integrations.scim.errors import ScimError
from integrations.scim.resources import ENTERPRISE, GroupResource, UserResource
from ledger.models import Identity, Membership

_LOOKUPS = {
    CompareOperator.eq: "iexact",
    CompareOperator.co: "icontains",
    CompareOperator.sw: "istartswith",
    CompareOperator.ew: "iendswith",
    CompareOperator.gt: "gt",
    CompareOperator.ge: "gte",
    CompareOperator.lt: "lt",
    CompareOperator.le: "lte",
}
# Attributes compared exactly (ids, booleans, dates): eq means equal.
_EXACT = {"id", "externalId", "active", "meta.created", "meta.lastModified", "members.value"}


def _email_exists(lookup: str, value: Any) -> Q:
    identities = Identity.objects.filter(person=OuterRef("pk"), value__contains="@")
    return Q(Exists(identities.filter(**{f"value__{lookup}": value})))


def _member_exists(lookup: str, value: Any) -> Q:
    members = Membership.objects.filter(team=OuterRef("pk"), valid_to__isnull=True)
    return Q(Exists(members.filter(**{f"person_id__{lookup}": value})))


# SCIM attribute (lowercased, enterprise ones without their URN) -> model field or
# a function building the condition.
Field = str | Callable[[str, Any], Q]
USER_FIELDS: dict[str, Field] = {
    "id": "pk",
    "externalid": "external_id",
    "username": "user_name",
    "displayname": "name",
    "name.formatted": "name",
    "active": "active",
    "emails": _email_exists,
    "emails.value": _email_exists,
    "department": "department",
    "costcenter": "cost_centre",
    "manager.value": "manager_id",
    "meta.created": "created_at",
    "meta.lastmodified": "updated_at",
}
GROUP_FIELDS: dict[str, Field] = {
    "id": "pk",
    "externalid": "external_id",
    "displayname": "name",
    "members": _member_exists,
    "members.value": _member_exists,
    "meta.created": "created_at",
    "meta.lastmodified": "updated_at",
}


_DATES = {"meta.created", "meta.lastmodified"}


def _typed(key: str, value: Any) -> Any:
    """The value as the column's type, or invalidFilter: ``active eq "x"`` or
    ``meta.lastModified gt 1`` must not reach the database."""
    if key == "active":
        if not isinstance(value, bool):
            raise ScimError(400, "active compares with true or false", "invalidFilter")
        return value
    if key in _DATES:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ScimError(400, f"{key} compares with a date-time", "invalidFilter") from exc
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def _key(attr: AttrPath, prefix: str = "") -> str:
    name = f"{prefix}{attr.attr}.{attr.sub_attr}" if attr.sub_attr else f"{prefix}{attr.attr}"
    return name.lower()


class _ToQ(FilterVisitor[Q]):
    def __init__(self, fields: dict[str, Field], prefix: str = "") -> None:
        self.fields = fields
        self.prefix = prefix

    def _field(self, attr: AttrPath) -> tuple[Field, str]:
        if (
            attr.uri
            and attr.uri.lower() not in {ENTERPRISE.lower()}
            and not (attr.uri.lower().startswith("urn:ietf:params:scim:schemas:core:2.0:"))
        ):
            raise ScimError(400, f"cannot filter on {attr}", "invalidFilter")
        key = _key(attr, self.prefix)
        field = self.fields.get(key)
        if field is None:
            raise ScimError(
                400, f"cannot filter on {attr}: not a stored attribute", "invalidFilter"
            )
        return field, key

    def visit_comparison(self, node: Comparison) -> Q:
        field, key = self._field(node.attr_path)
        value = node.value
        if node.op == CompareOperator.ne:
            return ~self.visit_comparison(Comparison(node.attr_path, CompareOperator.eq, value))
        lookup = _LOOKUPS[node.op]
        if key in {k.lower() for k in _EXACT} and lookup == "iexact":
            lookup = "exact"
        if key in {"id", "members.value", "manager.value", "members"}:
            if node.op != CompareOperator.eq:
                raise ScimError(400, f"{key} compares with eq or ne only", "invalidFilter")
            value = as_pk(value)
            if value is None:
                return Q(pk__in=[])  # not one of our ids: matches nothing
        if value is None:  # "eq null": the attribute has no value
            if node.op != CompareOperator.eq:
                raise ScimError(400, f"{node.op.value} cannot compare with null", "invalidFilter")
            return ~self.visit_present(Present(node.attr_path))
        if callable(field):
            return field(lookup, value)
        return Q(**{f"{field}__{lookup}": _typed(key, value)})

    def visit_present(self, node: Present) -> Q:
        field, key = self._field(node.attr_path)
        if callable(field):
            return field("isnull", False)
        present = Q(**{f"{field}__isnull": False})
        if key in _DATES or key in {"id", "active", "manager.value"}:
            return present
        return present & ~Q(**{field: ""})  # text columns hold "" for no value

    def visit_not(self, node: Not) -> Q:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Q:
        parts = [self.visit(term) for term in node.terms]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if node.op == LogicalOperator.and_ else combined | part
        return combined

    def visit_value_path(self, node: ValuePath) -> Q:
        # emails[value eq "x"] reads as emails.value eq "x".
        return _ToQ(self.fields, prefix=f"{node.attr_path.attr}.").visit(node.val_filter)


def _parse(expression: str, model: Any) -> Any:
    try:
        return ScimFilter[model](expression).ast
    except (SCIMException, ValueError, TypeError) as exc:  # syntax, attribute, value
        raise ScimError(400, f"invalid filter: {exc}", "invalidFilter") from exc


def users_filter(expression: str) -> Q:
    """The condition on ``Person`` for a User filter; raises ScimError(invalidFilter)."""
    return _ToQ(USER_FIELDS).visit(_parse(expression, UserResource))


def groups_filter(expression: str) -> Q:
    """The condition on ``Team`` for a Group filter; raises ScimError(invalidFilter)."""
    return _ToQ(GROUP_FIELDS).visit(_parse(expression, GroupResource))
