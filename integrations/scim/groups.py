"""SCIM Groups as teams; group membership is team membership.

A member added starts a membership now (a person's first one reaches back to the
beginning, ledger.directory); a member removed has it end now; a move is a
removal from one group and an addition to another, so the person counts for the
old team before the push and the new one after. A member named by an id we do
not know (added or removed) is refused, naming it, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify
from scim2_models import Context, Path, SCIMException
from scim2_models.path import Comparison, ValuePath

from integrations.scim.common import as_pk, check_length, patch_apply, validate, with_meta
from integrations.scim.errors import ScimError
from integrations.scim.resources import GroupResource
from ledger import directory
from ledger.models import Membership, Person, Team, Versioned

SCIM = Versioned.Origin.SCIM


_CURRENT_MEMBERS = "scim_current_members"


def _current_members() -> QuerySet[Membership]:
    return (
        Membership.objects.filter(valid_to__isnull=True)
        .select_related("person")
        .order_by("person_id")
    )


def _members(team: Team) -> list[Membership]:
    """The team's members in force: prefetched for a list's page, else read."""
    prefetched = getattr(team, _CURRENT_MEMBERS, None)
    if prefetched is not None:
        return list(prefetched)
    return list(_current_members().filter(team=team))


def group_body(team: Team, base: str, *, with_members: bool = True) -> dict[str, Any]:
    """The team as a SCIM Group (a dict ready to answer), with meta and version."""
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": str(team.pk),
        "displayName": team.name,
    }
    if team.external_id:
        body["externalId"] = team.external_id
    if with_members:
        shown = (team.directory_attributes or {}).get("display") or {}
        members = [
            {
                "value": str(m.person_id),
                "$ref": f"{base}/Users/{m.person_id}",
                "display": shown.get(str(m.person_id), m.person.name),
                "type": "User",
            }
            for m in _members(team)
        ]
        if members:
            body["members"] = list({m["value"]: m for m in members}.values())
    dumped = GroupResource.model_validate(body).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return with_meta(
        dumped,
        resource_type="Group",
        created=team.created_at,
        modified=team.updated_at,
        location=f"{base}/Groups/{team.pk}",
    )


def _unique_slug(name: str) -> str:
    stem = (slugify(name) or "group")[:90]
    slug, n = stem, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{stem}-{n}"
    return slug


def _people(group: Any) -> list[Person]:
    ids = [str(m.value) for m in group.members or [] if m.value is not None]
    pks = [pk for pk in map(as_pk, ids) if pk is not None]
    known = {str(p.pk): p for p in Person.objects.filter(pk__in=pks)}
    missing = [i for i in ids if i not in known]
    if missing:
        raise ScimError(
            400, f"member {', '.join(repr(i) for i in missing)} is not a known user", "invalidValue"
        )
    return list({i: known[i] for i in ids}.values())


def _write(team: Team | None, group: Any) -> Team:
    if not group.display_name:
        raise ScimError(400, "displayName is required", "invalidValue")
    check_length("externalId", group.external_id, 200)
    others = Team.objects.exclude(pk=team.pk) if team is not None else Team.objects
    if group.external_id and others.filter(external_id=group.external_id).exists():
        raise ScimError(409, f"externalId {group.external_id!r} is already taken", "uniqueness")
    people = _people(group)
    if team is None:
        # A team made by hand before the directory was connected is adopted, not
        # duplicated; a *discovered* team is merged into the group instead (docs).
        team = Team.objects.filter(
            name__iexact=group.display_name,
            external_id__isnull=True,
            status=Team.Status.CONFIRMED,
            merged_into__isnull=True,
            directory_group=False,
        ).first() or Team(slug=_unique_slug(group.display_name))
    team.name = group.display_name[:200]
    team.external_id = group.external_id or None
    team.status = Team.Status.CONFIRMED
    team.directory_group = True
    # Members' display names as the directory sent them (RFC 7643 keeps them on the group).
    team.directory_attributes = {
        "display": {str(m.value): m.display for m in group.members or [] if m.display}
    }
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError as exc:
        raise ScimError(409, "externalId is already taken", "uniqueness") from exc
    _set_members(team, people)
    return team


def _set_members(team: Team, people: list[Person]) -> None:
    wanted = {p.pk: p for p in people}
    current = {m.person_id for m in _members(team)}
    for person in people:
        if person.pk not in current:
            directory.membership_start(person=person, team=team, origin=SCIM)
    for membership in _members(team):
        if membership.person_id not in wanted:
            directory.membership_end(membership, origin=SCIM)
    if set(wanted) != current:
        Team.objects.filter(pk=team.pk).update(updated_at=timezone.now())
        team.refresh_from_db(fields=["updated_at"])


def group_get(group_id: str) -> Team:
    pk = as_pk(group_id)
    team = provisioned().filter(pk=pk).first() if pk is not None else None
    if team is None:
        raise ScimError(404, f"no group with id {group_id!r}")
    return team


def provisioned() -> QuerySet[Team]:
    return Team.objects.filter(directory_group=True, merged_into__isnull=True)


@transaction.atomic
def group_create(payload: Any, base: str) -> Team:
    return _write(None, validate(GroupResource, payload, Context.RESOURCE_CREATION_REQUEST))


@transaction.atomic
def group_replace(team: Team, payload: Any, base: str) -> Team:
    return _write(team, validate(GroupResource, payload, Context.RESOURCE_REPLACEMENT_REQUEST))


@transaction.atomic
def group_delete(team: Team) -> None:
    """DELETE: the memberships end and the directory lets go of the team; the team
    itself stays (records name it), with its past members' history."""
    for membership in _members(team):
        directory.membership_end(membership, origin=SCIM)
    Team.objects.filter(pk=team.pk).update(directory_group=False, external_id=None)


def _removed_ids(body: Any) -> list[str]:
    """Member ids a PatchOp removes: ``members[value eq "x"]`` or Entra's value list."""
    ids: list[str] = []
    for op in body.get("Operations") or [] if isinstance(body, dict) else []:
        if not isinstance(op, dict) or str(op.get("op", "")).lower() != "remove":
            continue
        path = str(op.get("path") or "")
        if path.lower() == "members" and isinstance(op.get("value"), list):
            ids += [str(v.get("value")) for v in op["value"] if isinstance(v, dict)]
        elif path.lower().startswith("members["):
            value = _selected_member(path)
            if value is not None:
                ids.append(value)
    return ids


def _selected_member(path: str) -> str | None:
    """The id in ``members[value eq "x"]``; None for any other path (a path that
    does not parse is refused later by scim2-models, with its reason)."""
    try:
        node = Path[GroupResource](path).ast
    except (SCIMException, ValueError):
        return None
    if (
        isinstance(node, ValuePath)
        and isinstance(node.val_filter, Comparison)
        and str(node.val_filter.attr_path).lower() == "value"
    ):
        return str(node.val_filter.value)
    return None


@transaction.atomic
def group_patch(team: Team, body: Any, base: str) -> Team:
    # Removing a user who is not in the group is a no-op (a retry, or a user whose
    # deactivation already ended it); removing one we never knew is an error.
    removed = _removed_ids(body)
    pks = [pk for pk in map(as_pk, removed) if pk is not None]
    known = {str(pk) for pk in Person.objects.filter(pk__in=pks).values_list("pk", flat=True)}
    unknown = [i for i in removed if i not in known]
    if unknown:
        raise ScimError(
            400, f"member {', '.join(repr(i) for i in unknown)} is not a known user", "noTarget"
        )
    current = GroupResource.model_validate(
        {k: v for k, v in group_body(team, base).items() if k != "meta"}
    )
    return _write(team, patch_apply(GroupResource, current, body))


def groups_matching(condition: Q) -> QuerySet[Team]:
    """The groups a list or search answers, their members read in one query for
    the whole page."""
    return (
        provisioned()
        .filter(condition)
        .order_by("pk")
        .prefetch_related(
            Prefetch("memberships", queryset=_current_members(), to_attr=_CURRENT_MEMBERS)
        )
    )
