"""SCIM Users as people: reading a ``Person`` as a User, and writing one back.

Columns hold what reports read (userName, externalId, active, name, primary email,
department, costCenter, manager); what else the directory sent is kept in
``Person.directory_attributes`` and answered back as sent. Every email becomes an
identity (origin scim), so the person's work and spend under that address count
for them. A user is never deleted: DELETE and ``active: false`` deactivate.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from scim2_models import Context, EnterpriseUser

from integrations.scim.common import as_pk, check_length, patch_apply, validate, with_meta
from integrations.scim.errors import ScimError
from integrations.scim.resources import ENTERPRISE, UserResource
from ledger import directory
from ledger.models import Identity, Membership, Person, Versioned

SCIM = Versioned.Origin.SCIM
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
# Attributes held by columns (or never kept: a password), so not in the extras.
_COLUMNS = {"id", "meta", "schemas", "userName", "externalId", "active", "groups", "password"}
_ENTERPRISE_COLUMNS = {"department", "costCenter", "manager"}


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _pop_manager(payload: dict[str, Any]) -> tuple[bool, str | None]:
    """Take the enterprise manager out of a body: scim2-models requires its $ref,
    which Okta and Entra ID do not send. Answers (given, manager id)."""
    ext = payload.get(ENTERPRISE)
    if not isinstance(ext, dict) or "manager" not in ext:
        return False, None
    manager = ext.pop("manager")
    if isinstance(manager, dict):
        manager = manager.get("value")
    return True, _text(manager)


def _manager(manager_id: str | None) -> Person | None:
    if manager_id is None:
        return None
    pk = as_pk(manager_id)
    person = Person.objects.filter(pk=pk).first() if pk is not None else None
    if person is None:
        raise ScimError(400, f"manager {manager_id!r} is not a known user", "invalidValue")
    return person


def user_body(person: Person, base: str) -> dict[str, Any]:
    """The person as a SCIM User (a dict ready to answer), with meta and version."""
    body: dict[str, Any] = dict(person.directory_attributes or {})
    name = dict(body.get("name") or {})
    if "formatted" in name or not name:
        name["formatted"] = person.name
    ext = dict(body.pop(ENTERPRISE, None) or {})
    ext.update({"department": person.department or None, "costCenter": person.cost_centre or None})
    if person.manager_id is not None:
        ext["manager"] = {
            "value": str(person.manager_id),
            "$ref": f"{base}/Users/{person.manager_id}",
        }
    ext = {k: v for k, v in ext.items() if v not in (None, "", [], {})}
    body.update(
        {
            "schemas": [USER_SCHEMA] + ([ENTERPRISE] if ext else []),
            "id": str(person.pk),
            "userName": person.user_name or person.email or str(person.pk),
            "name": name,
            "active": person.active,
        }
    )
    if person.external_id:
        body["externalId"] = person.external_id
    if ext:
        body[ENTERPRISE] = ext
    groups = [
        {"value": str(m.team_id), "$ref": f"{base}/Groups/{m.team_id}", "display": m.team.name}
        for m in Membership.objects.filter(person=person, valid_to__isnull=True).select_related(
            "team"
        )
    ]
    if groups:
        body["groups"] = groups
    dumped = UserResource.model_validate(body).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return with_meta(
        dumped,
        resource_type="User",
        created=person.created_at,
        modified=person.updated_at,
        location=f"{base}/Users/{person.pk}",
    )


def _parsed(payload: Any, ctx: Context) -> tuple[Any, bool, str | None]:
    if not isinstance(payload, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    given, manager_id = _pop_manager(payload)
    return validate(UserResource, payload, ctx), given, manager_id


def _display_name(user: Any) -> str:
    name = user.name
    if name is not None and name.formatted:
        return str(name.formatted)
    parts = [p for p in (name.given_name, name.family_name) if p] if name is not None else []
    return " ".join(parts) or user.display_name or user.user_name


def _emails(user: Any) -> list[str]:
    values = [str(e.value).strip() for e in user.emails or [] if e.value]
    primary = [str(e.value).strip() for e in user.emails or [] if e.value and e.primary]
    ordered = primary + [v for v in values if v not in primary]
    return list(dict.fromkeys(ordered))


def _check_unique(person: Person | None, user: Any, email: str | None) -> None:
    check_length("userName", user.user_name, 200)
    check_length("externalId", user.external_id, 200)
    for value in _emails(user):
        check_length(f"email {value[:40]!r}", value, 254)
    others = Person.objects.exclude(pk=person.pk) if person is not None else Person.objects
    if others.filter(user_name__iexact=user.user_name).exists():
        raise ScimError(409, f"userName {user.user_name!r} is already taken", "uniqueness")
    if user.external_id and others.filter(external_id=user.external_id).exists():
        raise ScimError(409, f"externalId {user.external_id!r} is already taken", "uniqueness")
    if email and others.filter(email__iexact=email).exists():
        raise ScimError(409, f"email {email!r} belongs to another user", "uniqueness")


def _write(person: Person | None, user: Any, manager_given: bool, manager_id: str | None) -> Person:
    """Store the validated User on ``person`` (a new one when None)."""
    emails = _emails(user)
    email = emails[0] if emails else None
    if person is None and email:
        # A person typed in before the directory was connected is adopted, not duplicated.
        person = Person.objects.filter(
            email__iexact=email, user_name__isnull=True, external_id__isnull=True
        ).first()
    _check_unique(person, user, email)
    extras = user.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in _COLUMNS:
        extras.pop(key, None)
    ext = dict(extras.pop(ENTERPRISE, None) or {})
    for key in _ENTERPRISE_COLUMNS | {"schemas"}:
        ext.pop(key, None)
    if ext:
        extras[ENTERPRISE] = ext
    department, cost_centre = _enterprise(user)
    target = person or Person()
    target.user_name = user.user_name
    target.external_id = user.external_id or None
    target.name = _display_name(user)[:200]
    target.email = email
    target.department = (department or "")[:200]
    target.cost_centre = (cost_centre or "")[:100]
    target.directory_attributes = extras
    if manager_given:
        manager = _manager(manager_id)
        if manager is not None and target.pk is not None and manager.pk == target.pk:
            raise ScimError(400, "a user cannot be their own manager", "invalidValue")
        target.manager = manager
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError as exc:  # a concurrent write took the same userName or email
        raise ScimError(
            409, "userName, externalId or email is already taken", "uniqueness"
        ) from exc
    _map_emails(target, emails)
    active = True if user.active is None else bool(user.active)
    directory.person_set_active(person=target, active=active, origin=SCIM)
    return target


def _enterprise(user: Any) -> tuple[str | None, str | None]:
    ext = user[EnterpriseUser]
    if ext is None:
        return None, None
    return ext.department, ext.cost_center


def _map_emails(person: Person, emails: list[str]) -> None:
    for value in emails:
        directory.identity_map(value=value, person=person, origin=SCIM)
    gone = Identity.objects.filter(person=person, origin=SCIM, value__contains="@").exclude(
        value__in=emails
    )
    for identity in gone:
        directory.identity_unmap(value=identity.value, origin=SCIM)


def user_get(user_id: str) -> Person:
    pk = as_pk(user_id)
    person = Person.objects.filter(pk=pk).first() if pk is not None else None
    if person is None:
        raise ScimError(404, f"no user with id {user_id!r}")
    return person


@transaction.atomic
def user_create(payload: Any) -> Person:
    user, manager_given, manager_id = _parsed(payload, Context.RESOURCE_CREATION_REQUEST)
    return _write(None, user, manager_given, manager_id)


@transaction.atomic
def user_replace(person: Person, payload: Any) -> Person:
    user, manager_given, manager_id = _parsed(payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    return _write(person, user, True, manager_id if manager_given else None)


def _pop_manager_ops(body: Any) -> tuple[bool, str | None]:
    """Take manager changes out of a PatchOp body (see _pop_manager)."""
    given, manager_id = False, None
    ops = body.get("Operations") if isinstance(body, dict) else None
    if not isinstance(ops, list):
        return given, manager_id
    kept = []
    for op in ops:
        path = str(op.get("path") or "") if isinstance(op, dict) else ""
        tail = (
            path.lower().rsplit(":", 1)[-1] if path.lower().startswith(ENTERPRISE.lower()) else ""
        )
        if tail in {"manager", "manager.value"}:
            given = True
            remove = str(op.get("op", "")).lower() == "remove"
            value = op.get("value")
            manager_id = (
                None if remove else _text(value.get("value") if isinstance(value, dict) else value)
            )
            continue
        if isinstance(op, dict) and isinstance(op.get("value"), dict):
            value = op["value"]
            for key in [k for k in value if k.lower() == f"{ENTERPRISE}:manager".lower()]:
                given, manager_id = True, _text(value.pop(key))
            if isinstance(value.get(ENTERPRISE), dict):
                found, mid = _pop_manager(value)
                if found:
                    given, manager_id = True, mid
        kept.append(op)
    body["Operations"] = kept
    return given, manager_id


@transaction.atomic
def user_patch(person: Person, body: Any, base: str) -> Person:
    manager_given, manager_id = _pop_manager_ops(body)
    current = _current(person, base)
    if manager_given and not body["Operations"]:
        patched = current  # the body changed only the manager
    else:
        patched = patch_apply(UserResource, current, body)
    if not manager_given:
        manager_given, manager_id = True, str(person.manager_id) if person.manager_id else None
    return _write(person, patched, manager_given, manager_id)


def _current(person: Person, base: str) -> Any:
    body = user_body(person, base)
    _pop_manager(body)
    for key in ("meta", "groups"):
        body.pop(key, None)
    return UserResource.model_validate(body)


def user_deactivate(person: Person) -> None:
    """DELETE: the person is deactivated (memberships end), never deleted."""
    directory.person_set_active(person=person, active=False, origin=SCIM)


def users_matching(condition: Q) -> Any:
    return Person.objects.filter(condition).order_by("pk")
