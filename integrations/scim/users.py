"""SCIM Users as people: reading a ``Person`` as a User, and writing one back.

Columns hold what reports read (userName, externalId, active, name, primary email,
department, costCenter, manager); what else the directory sent is kept in
``Person.directory_attributes`` and answered back as sent. Every email becomes an
identity (origin scim), so the person's work and spend under that address count
for them.

The Users the endpoint shows are the people a directory provisioned (those with
a userName). A person is never deleted: DELETE deactivates them (memberships end,
past work stays) and releases their userName and externalId, so the user is gone
for the directory; provisioning the same email again finds the same person.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q, QuerySet
from scim2_models import Context, EnterpriseUser

from integrations.scim.common import as_pk, check_length, patch_apply, validate, with_meta
from integrations.scim.errors import ScimError
from integrations.scim.resources import ENTERPRISE, UserResource
from ledger import directory
from ledger.models import Identity, Membership, Person, Versioned

SCIM = Versioned.Origin.SCIM
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
# Attributes held by columns (or never kept: a password), so not in the extras.
_COLUMNS = {"id", "meta", "schemas", "userName", "externalId", "groups", "password"}
_ENTERPRISE_COLUMNS = {"department", "costCenter", "manager", "schemas"}
_MANAGER = f"{ENTERPRISE}:manager".lower()


def provisioned() -> QuerySet[Person]:
    return Person.objects.filter(user_name__isnull=False)


def user_get(user_id: str) -> Person:
    pk = as_pk(user_id)
    person = provisioned().filter(pk=pk).first() if pk is not None else None
    if person is None:
        raise ScimError(404, f"no user with id {user_id!r}")
    return person


_CURRENT_GROUPS = "scim_current_groups"


def users_matching(condition: Q) -> QuerySet[Person]:
    """The users a list or search answers, each with its groups read in one query
    for the whole page."""
    groups = Membership.objects.filter(valid_to__isnull=True).select_related("team")
    return (
        provisioned()
        .filter(condition)
        .order_by("pk")
        .prefetch_related(Prefetch("memberships", queryset=groups, to_attr=_CURRENT_GROUPS))
    )


def user_body(person: Person, base: str) -> dict[str, Any]:
    """The person as a SCIM User (a dict ready to answer), with meta and version."""
    body: dict[str, Any] = dict(person.directory_attributes or {})
    if isinstance(body.get("name"), dict) and body["name"].get("formatted"):
        body["name"] = {**body["name"], "formatted": person.name}
    # None in the extras: the directory removed ``active`` (it has no default in
    # RFC 7643); the person still counts as active.
    if body.get("active", True) is not None:
        body["active"] = person.active
    else:
        body.pop("active")
    ext = dict(body.pop(ENTERPRISE, None) or {})
    ext.update({"department": person.department or None, "costCenter": person.cost_centre or None})
    if person.manager_id is not None:
        ext["manager"] = {"value": str(person.manager_id), "$ref": _ref(base, person.manager_id)}
    ext = {k: v for k, v in ext.items() if v not in (None, "", [], {})}
    body.update(
        {
            "schemas": [USER_SCHEMA] + ([ENTERPRISE] if ext else []),
            "id": str(person.pk),
            "userName": person.user_name,
        }
    )
    if person.external_id:
        body["externalId"] = person.external_id
    if ext:
        body[ENTERPRISE] = ext
    memberships = getattr(person, _CURRENT_GROUPS, None)
    if memberships is None:
        memberships = Membership.objects.filter(
            person=person, valid_to__isnull=True
        ).select_related("team")
    groups = [
        {"value": str(m.team_id), "$ref": f"{base}/Groups/{m.team_id}", "display": m.team.name}
        for m in memberships
    ]
    if groups:
        body["groups"] = groups
    dumped = UserResource.model_validate(body).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return with_meta(
        dumped,
        resource_type="User",
        created=person.created_at,
        modified=person.updated_at,
        location=_ref(base, person.pk),
    )


def _ref(base: str, pk: Any) -> str:
    return f"{base}/Users/{pk}"


def _manager_value(value: Any, base: str) -> Any:
    """A manager as RFC 7643 wants it (with $ref), from what Okta and Entra ID send:
    a bare id, or ``{"value": id}``."""
    if isinstance(value, str | int):
        value = {"value": str(value)}
    if isinstance(value, dict) and value.get("value") and not value.get("$ref"):
        value = {**value, "$ref": _ref(base, value["value"])}
    return value


def _normalise_extension(ext: Any, base: str) -> None:
    if isinstance(ext, dict) and "manager" in ext:
        ext["manager"] = _manager_value(ext["manager"], base)


def _normalise_manager(container: Any, base: str) -> None:
    """In a User body or a path-less PATCH value: the manager, by its full path or
    inside the enterprise extension."""
    if not isinstance(container, dict):
        return
    for key in list(container):
        if key.lower() == _MANAGER:
            container[key] = _manager_value(container[key], base)
        elif key.lower() == ENTERPRISE.lower():
            _normalise_extension(container[key], base)


def _normalise_patch(body: Any, base: str) -> None:
    for op in body.get("Operations") or [] if isinstance(body, dict) else []:
        if not isinstance(op, dict) or "value" not in op:
            continue
        path = str(op.get("path") or "").lower()
        if path == _MANAGER:
            op["value"] = _manager_value(op["value"], base)
        elif path == ENTERPRISE.lower():
            _normalise_extension(op["value"], base)
        elif not path:
            _normalise_manager(op["value"], base)


def _display_name(user: Any) -> str:
    name = user.name
    if name is not None and name.formatted:
        return str(name.formatted)
    parts = [p for p in (name.given_name, name.family_name) if p] if name is not None else []
    return " ".join(parts) or user.display_name or user.user_name


def _emails(user: Any) -> list[str]:
    values = [str(e.value).strip() for e in user.emails or [] if e.value]
    primary = [str(e.value).strip() for e in user.emails or [] if e.value and e.primary]
    return list(dict.fromkeys(primary + values))


def _check_unique(person: Person | None, user: Any, emails: list[str]) -> None:
    check_length("userName", user.user_name, 200)
    check_length("externalId", user.external_id, 200)
    for value in emails:
        check_length(f"email {value[:40]!r}", value, 254)
    others = Person.objects.exclude(pk=person.pk) if person is not None else Person.objects
    if others.filter(user_name__iexact=user.user_name).exists():
        raise ScimError(409, f"userName {user.user_name!r} is already taken", "uniqueness")
    if user.external_id and others.filter(external_id=user.external_id).exists():
        raise ScimError(409, f"externalId {user.external_id!r} is already taken", "uniqueness")
    if emails and others.filter(email__iexact=emails[0]).exists():
        raise ScimError(409, f"email {emails[0]!r} belongs to another user", "uniqueness")


def _manager(user: Any, person: Person) -> Person | None:
    ext = user[EnterpriseUser]
    value = ext.manager.value if ext is not None and ext.manager is not None else None
    if value is None:
        return None
    pk = as_pk(value)
    manager = Person.objects.filter(pk=pk).first() if pk is not None else None
    if manager is None:
        raise ScimError(400, f"manager {value!r} is not a known user", "invalidValue")
    if person.pk is not None and manager.pk == person.pk:
        raise ScimError(400, "a user cannot be their own manager", "invalidValue")
    return manager


def _extras(user: Any) -> dict[str, Any]:
    extras: dict[str, Any] = user.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in _COLUMNS:
        extras.pop(key, None)
    ext = extras.pop(ENTERPRISE, None) or {}
    ext = {k: v for k, v in ext.items() if k not in _ENTERPRISE_COLUMNS}
    if ext:
        extras[ENTERPRISE] = ext
    extras["active"] = None if user.active is None else True  # the column holds its value
    return extras


def _write(person: Person | None, user: Any) -> Person:
    """Store the validated User on ``person`` (a new one when None)."""
    emails = _emails(user)
    if person is None and emails:
        # A person typed in before the directory was connected (or whose user was
        # deleted there) is provisioned again, not duplicated.
        person = Person.objects.filter(
            email__iexact=emails[0], user_name__isnull=True, external_id__isnull=True
        ).first()
    _check_unique(person, user, emails)
    ext = user[EnterpriseUser]
    target = person or Person()
    target.user_name = user.user_name
    target.external_id = user.external_id or None
    target.name = _display_name(user)[:200]
    target.email = emails[0] if emails else None
    target.department = ((ext.department if ext else None) or "")[:200]
    target.cost_centre = ((ext.cost_center if ext else None) or "")[:100]
    target.manager = _manager(user, target)
    target.directory_attributes = _extras(user)
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError as exc:  # a concurrent write took the same userName or email
        raise ScimError(
            409, "userName, externalId or email is already taken", "uniqueness"
        ) from exc
    _map_emails(target, emails)
    active = user.active is not False
    directory.person_set_active(person=target, active=active, origin=SCIM)
    return target


def _map_emails(person: Person, emails: list[str]) -> None:
    for value in emails:
        directory.identity_map(value=value, person=person, origin=SCIM)
    gone = Identity.objects.filter(person=person, origin=SCIM, value__contains="@")
    for identity in gone.exclude(value__in=emails):
        directory.identity_unmap(value=identity.value, origin=SCIM)


@transaction.atomic
def user_create(payload: Any, base: str) -> Person:
    _normalise_manager(payload, base)
    return _write(None, validate(UserResource, payload, Context.RESOURCE_CREATION_REQUEST))


@transaction.atomic
def user_replace(person: Person, payload: Any, base: str) -> Person:
    _normalise_manager(payload, base)
    user = validate(UserResource, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    return _write(person, user)


@transaction.atomic
def user_patch(person: Person, body: Any, base: str) -> Person:
    _normalise_patch(body, base)
    current = user_body(person, base)
    for key in ("meta", "groups"):
        current.pop(key, None)
    return _write(person, patch_apply(UserResource, UserResource.model_validate(current), body))


@transaction.atomic
def user_delete(person: Person) -> None:
    """DELETE: deactivated (memberships end, past work stays) and released by the
    directory; never deleted."""
    directory.person_set_active(person=person, active=False, origin=SCIM)
    Person.objects.filter(pk=person.pk).update(user_name=None, external_id=None)
