"""Four eyes on the scoreboard: proposing, approving and rejecting definition changes.

A domain's :class:`~awu.definitions.models.ApprovalPolicy` says whether a draft
of its definitions may be published directly (``required`` off: as before) or
must be **proposed** and **approved** by someone outside the owning team first;
a rescore of history waits for the same approval. A domain without a policy row
requires approval.

Who may do what (enforced here, whatever the caller: the admin, the CLI, a test):

- **propose** (and withdraw): an admin, or a team lead of the definition's
  owning team (``ledger.access.leads``);
- **approve / reject**: an admin or a team lead who is *outside the owning
  team*: not the proposer, leading no team in the owning team's scope (the team,
  the teams below it and merged into it), and, when the user is tied to a
  directory person (their OIDC account's person, else the person with their
  email), that person is not a member in force of a team in that scope.
  Rejecting needs a reason.

Every step is audited in its own transaction: ``definition.proposed``,
``definition.approved``, ``definition.rejected``, ``definition.withdrawn``, and
for rescores ``rescore.requested``, ``rescore.approved``, ``rescore.rejected``,
``rescore.withdrawn``. An approved publication is published through
:func:`awu.definitions.services.definition_publish` in the approval's
transaction; an approved rescore runs with ``rescore --request ID``.

The preview (units gained and lost over the last N days, by team) is computed
by the caller (:func:`awu.scoring.preview.definition_preview_diff`: scoring
depends on definitions, never the other way round) and stored on the request,
so the approver sees what the proposer saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Q

from awu.definitions.models import (
    DEFAULT_PREVIEW_DAYS,
    ApprovalPolicy,
    ChangeRequest,
    Definition,
    DefinitionVersion,
)
from awu.definitions.services import DefinitionError, definition_publish, version_problems
from ledger import access, audit
from ledger.models import Membership, Person


class ApprovalRequired(DefinitionError):
    """The domain requires approval: propose the change instead of applying it."""


class NotAllowed(DefinitionError):
    """The user may not take this step (a role or the four-eyes rule says no)."""


def policy_for(domain: str) -> ApprovalPolicy:
    """The domain's policy; an unsaved one requiring approval when it has no row."""
    found = ApprovalPolicy.objects.filter(domain=domain).first()
    return found or ApprovalPolicy(domain=domain, required=True, preview_days=DEFAULT_PREVIEW_DAYS)


def approval_required(domain: str) -> bool:
    return policy_for(domain).required


def policy_set(
    *, domain: str, required: bool, preview_days: int, reason: str = ""
) -> ApprovalPolicy:
    """Create or change a domain's policy; audited (``approval_policy.changed``)."""
    with transaction.atomic():
        policy = ApprovalPolicy.objects.select_for_update().filter(domain=domain).first()
        before = (
            {"required": policy.required, "preview_days": policy.preview_days} if policy else None
        )
        if policy is None:
            policy = ApprovalPolicy(domain=domain)
        policy.required = required
        policy.preview_days = preview_days
        policy.save()
        audit.record(
            "approval_policy.changed",
            obj=policy,
            label=domain,
            before=before,
            after={"domain": domain, "required": required, "preview_days": preview_days},
            reason=reason,
        )
    return policy


# --- who may do what -----------------------------------------------------------


def _name(user: Any) -> str:
    return str(user.get_username()) if user is not None else "nobody"


def may_propose(user: Any, definition: Definition) -> bool:
    """An admin, or a lead of the team that owns ``definition``."""
    return access.is_admin_user(user) or access.leads(user, definition.owner_team_id)


def _person_of(user: Any) -> Person | None:
    """The directory person ``user`` is: their OIDC account's, else the one with their email."""
    try:
        account_model = apps.get_model("signin", "OidcAccount")
    except LookupError:
        account_model = None
    if account_model is not None:
        account = account_model.objects.filter(user_id=user.pk, person__isnull=False).first()
        if account is not None:
            person: Person | None = account.person
            return person
    email = (getattr(user, "email", "") or "").strip()
    if not email:
        return None
    return Person.objects.filter(email__iexact=email).order_by("pk").first()


def approver_problem(user: Any, change: ChangeRequest, *, now: datetime) -> str | None:
    """Why ``user`` may not approve or reject ``change`` (None: they may)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "approving needs a signed-in user"
    if change.proposed_by_id == user.pk:
        return "nobody approves their own change: someone outside the owning team must decide"
    if not (access.is_admin_user(user) or access.TEAM_LEAD in access.roles_of(user)):
        return "only an admin or a team lead outside the owning team may approve or reject"
    owner = change.definition.owner_team_id
    if owner is None:
        return None
    scope = access.team_scope([owner])
    owning = change.definition.owner_team
    if access.leads(user, owner) or access.lead_team_ids(user) & scope:
        return (
            f"{_name(user)} leads {owning.slug if owning else 'the owning team'} or a team in it: "
            "the approver must be outside the owning team"
        )
    person = _person_of(user)
    if person is not None:
        member = Membership.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=now),
            person=person,
            team_id__in=scope,
            valid_from__lte=now,
        ).exists()
        if member:
            return (
                f"{_name(user)} is a member of {owning.slug if owning else 'the owning team'}: "
                "the approver must be outside the owning team"
            )
    return None


# --- the steps ------------------------------------------------------------------


def _audited(change: ChangeRequest) -> dict[str, Any]:
    return {
        "object_type": "definition",
        "object_id": change.definition_id,
        "label": f"{change.definition.key} v{change.version.version}",
    }


def preview_totals(preview: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of a stored preview, for the audit rows."""
    keys = ("days", "units_before", "units_after", "gained", "lost")
    return {k: preview.get(k) for k in keys if k in preview}


def _action(change: ChangeRequest, verb: str) -> str:
    if change.kind == ChangeRequest.Kind.RESCORE:
        return f"rescore.{'requested' if verb == 'proposed' else verb}"
    return f"definition.{verb}"


def change_propose(
    *,
    version: DefinitionVersion,
    by: Any,
    kind: str = ChangeRequest.Kind.PUBLISH,
    preview: Mapping[str, Any],
    preview_days: int,
    now: datetime,
    covers_from: datetime | None = None,
    note: str = "",
) -> ChangeRequest:
    """Propose publishing ``version`` (a draft), or a rescore from it.

    The version, when a draft, becomes ``proposed``: frozen until the request is
    approved, rejected or withdrawn. Raises :class:`NotAllowed` unless ``by``
    may propose, :class:`~awu.definitions.services.InvalidVersion` when the
    rules have problems, :class:`~awu.definitions.services.FrozenVersion` when a
    publication is proposed for a version that is not a draft or one is open.
    """
    from awu.definitions.services import FrozenVersion, InvalidVersion

    if kind not in ChangeRequest.Kind.values:
        raise DefinitionError(f"kind must be one of {', '.join(ChangeRequest.Kind.values)}")
    with transaction.atomic():
        locked = (
            DefinitionVersion.objects.select_for_update(of=("self",))
            .select_related("definition__owner_team")
            .get(pk=version.pk)
        )
        definition = locked.definition
        if not may_propose(by, definition):
            raise NotAllowed(
                f"{_name(by)} may not propose changes to {definition.key}: only an admin or a "
                f"lead of its owning team ({_team(definition)}) may"
            )
        if (
            kind == ChangeRequest.Kind.PUBLISH
            and not locked.status == DefinitionVersion.Status.DRAFT
        ):
            raise FrozenVersion(f"{locked} is {locked.status}: only a draft can be proposed")
        open_request = ChangeRequest.objects.filter(
            definition=definition, kind=kind, state=ChangeRequest.State.PROPOSED
        ).first()
        if open_request is not None:
            raise FrozenVersion(
                f"{definition.key} already has an open {kind} request (#{open_request.pk}): "
                "decide or withdraw it first"
            )
        if not locked.is_published:
            problems = version_problems(locked)
            if problems:
                raise InvalidVersion(f"{locked} has problems and cannot be proposed", problems)
            locked.status = DefinitionVersion.Status.PROPOSED
            locked.save(update_fields=["status"])
        change = ChangeRequest.objects.create(
            kind=kind,
            definition=definition,
            version=locked,
            covers_from=covers_from,
            proposed_by=by,
            proposed_at=now,
            note=note,
            preview_days=preview_days,
            preview=audit.jsonable(dict(preview)),
        )
        audit.record(
            _action(change, "proposed"),
            **_audited(change),
            before={"status": DefinitionVersion.Status.DRAFT} if not locked.is_published else None,
            after={
                "request": change.pk,
                "kind": kind,
                "version": locked.version,
                "covers_from": covers_from,
                **preview_totals(change.preview),
            },
            reason=note,
        )
    return change


def _team(definition: Definition) -> str:
    return definition.owner_team.slug if definition.owner_team is not None else "none"


def _open(change: ChangeRequest) -> ChangeRequest:
    """``change`` locked, with its definition and version, refusing a decided one."""
    locked = (
        ChangeRequest.objects.select_for_update(of=("self",))
        .select_related("definition__owner_team", "version")
        .get(pk=change.pk)
    )
    if locked.state != ChangeRequest.State.PROPOSED:
        raise DefinitionError(f"request #{locked.pk} is already {locked.state}")
    return locked


def _back_to_draft(change: ChangeRequest) -> None:
    if change.version.is_proposed:
        DefinitionVersion.objects.filter(pk=change.version_id).update(
            status=DefinitionVersion.Status.DRAFT
        )
        change.version.status = DefinitionVersion.Status.DRAFT


def change_withdraw(
    *, change: ChangeRequest, by: Any, now: datetime, reason: str = ""
) -> ChangeRequest:
    """Withdraw a proposal (its proposer, an admin or a lead of the owning team):
    the draft is editable again."""
    with transaction.atomic():
        locked = _open(change)
        if locked.proposed_by_id != getattr(by, "pk", None) and not may_propose(
            by, locked.definition
        ):
            raise NotAllowed(f"{_name(by)} may not withdraw request #{locked.pk}")
        locked.state = ChangeRequest.State.WITHDRAWN
        locked.decided_by = by
        locked.decided_at = now
        locked.reason = reason
        locked.save(update_fields=["state", "decided_by", "decided_at", "reason"])
        _back_to_draft(locked)
        audit.record(
            _action(locked, "withdrawn"),
            **_audited(locked),
            before={"state": ChangeRequest.State.PROPOSED},
            after={"request": locked.pk, "state": locked.state, "status": locked.version.status},
            reason=reason,
        )
    return locked


def change_reject(*, change: ChangeRequest, by: Any, reason: str, now: datetime) -> ChangeRequest:
    """Reject a proposal with a reason (required); the draft is editable again."""
    if not (reason or "").strip():
        raise DefinitionError("a rejection needs a reason", {"reason": ["give a reason"]})
    with transaction.atomic():
        locked = _open(change)
        problem = approver_problem(by, locked, now=now)
        if problem:
            raise NotAllowed(f"{_name(by)} may not reject request #{locked.pk}: {problem}")
        locked.state = ChangeRequest.State.REJECTED
        locked.decided_by = by
        locked.decided_at = now
        locked.reason = reason.strip()
        locked.save(update_fields=["state", "decided_by", "decided_at", "reason"])
        _back_to_draft(locked)
        audit.record(
            _action(locked, "rejected"),
            **_audited(locked),
            before={"state": ChangeRequest.State.PROPOSED},
            after={"request": locked.pk, "state": locked.state, **preview_totals(locked.preview)},
            reason=locked.reason,
        )
    return locked


def change_approve(
    *, change: ChangeRequest, by: Any, now: datetime, reason: str = ""
) -> ChangeRequest:
    """Approve a proposal. A publication is published now, in this transaction
    (covering triggers from ``now``); a rescore may then be run
    (``rescore --request ID``)."""
    with transaction.atomic():
        locked = _open(change)
        problem = approver_problem(by, locked, now=now)
        if problem:
            raise NotAllowed(f"{_name(by)} may not approve request #{locked.pk}: {problem}")
        locked.state = ChangeRequest.State.APPROVED
        locked.decided_by = by
        locked.decided_at = now
        locked.reason = (reason or "").strip()
        locked.save(update_fields=["state", "decided_by", "decided_at", "reason"])
        audit.record(
            _action(locked, "approved"),
            **_audited(locked),
            before={"state": ChangeRequest.State.PROPOSED},
            after={"request": locked.pk, "state": locked.state, **preview_totals(locked.preview)},
            reason=locked.reason,
        )
        if locked.kind == ChangeRequest.Kind.PUBLISH:
            definition_publish(
                version=locked.version,
                now=now,
                reason=locked.reason or locked.note,
                approval=locked,
            )
    return locked


def rescore_request_for_run(
    *, request_id: int, definition: Definition | None = None
) -> ChangeRequest:
    """The approved, not yet run rescore request ``request_id`` (refusing any other)."""
    change = (
        ChangeRequest.objects.select_related("definition", "version")
        .filter(pk=request_id, kind=ChangeRequest.Kind.RESCORE)
        .first()
    )
    if change is None:
        raise DefinitionError(f"no rescore request #{request_id}")
    if definition is not None and change.definition_id != definition.pk:
        raise DefinitionError(f"rescore request #{request_id} is for {change.definition.key}")
    if change.state != ChangeRequest.State.APPROVED:
        raise ApprovalRequired(
            f"rescore request #{request_id} is {change.state}: only an approved one runs"
        )
    if change.executed_at is not None:
        raise DefinitionError(
            f"rescore request #{request_id} already ran at {change.executed_at:%Y-%m-%dT%H:%M:%SZ}; "
            "request a new one"
        )
    return change
