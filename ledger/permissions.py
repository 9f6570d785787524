"""What each role may do with the ledger's objects: ``rules`` permissions.

One permission per model and action, named as Django names them
(``ledger.change_person``), each a predicate over the user and, where the object
has a team, the object. The admin asks them (ledger.admin_roles), and so may
anything else that acts for a signed-in user. Loaded by ``LedgerConfig.ready``.

- **admin**: everything.
- **finance**: the price book (add, change, close, "correct this price");
  reads teams, token usage and cost adjustments (and reprices at the command
  line, ledger.operators).
- **team lead**: the identities and memberships of the people in the teams they
  lead (a person is in a team through a membership in force now); reads those
  people and those teams.
- **viewer**: nothing here (the dashboard and the reports only).

The CLI asks the same roles by name (ledger.operators).
"""

from __future__ import annotations

from typing import Any

import rules
from django.db.models import Q, QuerySet

from ledger import access, clock
from ledger.models import Identity, Membership, Person, Team


def led_people(user: Any) -> QuerySet[Person]:
    """The people in the teams ``user`` leads (through memberships in force now)."""
    teams = access.lead_team_ids(user)
    now = clock.now()
    in_force = (
        Membership.objects.filter(team_id__in=teams, valid_from__lte=now)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))
        .values("person_id")
    )
    return Person.objects.filter(pk__in=in_force)


def leads_person(user: Any, person_id: int | None) -> bool:
    if person_id is None or not access.lead_team_ids(user):
        return False
    return led_people(user).filter(pk=person_id).exists()


def _person_id(obj: Any) -> int | None:
    if isinstance(obj, Person):
        return obj.pk
    if isinstance(obj, Identity | Membership):
        return obj.person_id
    return None


@rules.predicate
def leads_the_person(user: Any, obj: Any = None) -> bool:
    """A team lead; with an object, of the person it is (or belongs to)."""
    if not access.is_team_lead(user):
        return False
    return obj is None or leads_person(user, _person_id(obj))


@rules.predicate
def leads_the_membership(user: Any, obj: Any = None) -> bool:
    """A team lead; with a membership, of its person and of its team (a lead adds
    no one to a team they do not lead)."""
    if not access.is_team_lead(user):
        return False
    if obj is None:
        return True
    return leads_person(user, obj.person_id) and access.leads(user, obj.team_id)


@rules.predicate
def leads_the_team(user: Any, obj: Any = None) -> bool:
    """A team lead; with a team, one they lead (or a team it covers)."""
    if not access.is_team_lead(user):
        return False
    return obj is None or (isinstance(obj, Team) and access.leads(user, obj.pk))


is_admin = access.is_admin
is_finance = access.is_finance
admin_only = is_admin
admin_or_finance = is_admin | is_finance

# May enter /admin/ at all (a viewer reads the dashboard and the reports only).
may_use_admin = is_admin | is_finance | access.is_team_lead

PERMISSIONS: dict[str, Any] = {
    # The price book: finance's.
    **{f"ledger.{a}_modelprice": admin_or_finance for a in ("view", "add", "change", "delete")},
    # Teams: read by finance and their leads; created, renamed, merged by admins.
    "ledger.view_team": is_admin | is_finance | leads_the_team,
    **{f"ledger.{a}_team": admin_only for a in ("add", "change", "delete")},
    # People: their identities and memberships are their leads' to edit; the
    # person's own fields (name, email, manager) stay the admins'.
    "ledger.view_person": is_admin | leads_the_person,
    "ledger.change_person": is_admin | leads_the_person,
    "ledger.add_person": admin_only,
    "ledger.delete_person": admin_only,
    **{
        f"ledger.{a}_identity": is_admin | leads_the_person
        for a in ("view", "add", "change", "delete")
    },
    **{
        f"ledger.{a}_membership": is_admin | leads_the_membership
        for a in ("view", "add", "change", "delete")
    },
    # Usage and its cost: finance reads them.
    **{f"ledger.view_{model}": admin_or_finance for model in ("tokenusage", "costadjustment")},
    # Admins only: keys, sources and their secrets, service names, role grants,
    # work events and the audit trail.
    **{
        f"ledger.{a}_{model}": admin_only
        for a in ("view", "add", "change", "delete")
        for model in ("apikey", "source", "servicename", "rolegrant", "workevent", "auditevent")
    },
    **{
        f"ledger.{a}_{model}": admin_only
        for a in ("add", "change", "delete")
        for model in ("tokenusage", "costadjustment")
    },
    # The app's entry on the admin index.
    "ledger": may_use_admin,
    # Django's users and groups: admins only.
    **{
        f"auth.{a}_{m}": admin_only
        for a in ("view", "add", "change", "delete")
        for m in ("user", "group")
    },
    "auth": admin_only,
}


def register() -> None:
    for name, predicate in PERMISSIONS.items():
        rules.set_perm(name, predicate)
