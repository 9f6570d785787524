"""Which incidents a unit's change caused: named explicitly, or by deploy window.

Pure functions over the events the engine has in scope (see
:class:`awu.rules.spec.IncidentRule` for the rule). DORA's change-failure rate
counts an incident against the deploy before it; here the incident goes to the
changes of the latest production deploy of its service that preceded it within
the window, so a later deploy takes over from an earlier one. The result is a
function of the set of events: the latest deploy is chosen by (time, id).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from awu.rules.spec import (
    Attribution,
    Event,
    IncidentRule,
    Method,
    ServiceWindow,
    Voids,
)

INCIDENT_TYPE = "incident.opened"
ATTRIBUTED_TYPE = "incident.attributed"
DEPLOY_TYPE = "deploy.succeeded"
TYPES = frozenset({INCIDENT_TYPE, ATTRIBUTED_TYPE, DEPLOY_TYPE})
# The types whose events are found by service rather than by refs.
SERVICE_TYPES = frozenset({INCIDENT_TYPE, DEPLOY_TYPE})
EXPLICIT_LINK = ("commit", "pr", "deploy")

# (event type, link kinds, refs) -> linked events of that type, in (time, id) order
Linked = Callable[[str, tuple[str, ...], Mapping[str, list[str]]], Sequence[Event]]
# (event type, service) -> that service's events of that type, in (time, id) order
ByService = Callable[[str, str], Sequence[Event]]


def is_production(event: Event) -> bool:
    # A deploy that names no environment counts as production (most tools only
    # report production deploys), as in the shipped rules' CEL condition.
    environment = event.attributes.get("environment")
    return environment is None or environment == "production"


def incident_key(event: Event) -> str:
    """The incident an event is about: its first ``incident`` ref, else the event itself."""
    values = event.refs.get("incident") or ()
    return f"incident:{values[0]}" if values else f"event:{event.id}"


def names_change(event: Event, trigger: Event) -> bool:
    """An attribution naming a PR or commit names only that change; one naming
    only a deploy names every change the deploy carried."""
    prs, commits = event.refs.get("pr") or (), event.refs.get("commit") or ()
    if not prs and not commits:
        return True
    return bool(set(prs) & set(trigger.refs.get("pr") or ())) or bool(
        set(commits) & set(trigger.refs.get("commit") or ())
    )


def _voids(rule: IncidentRule, method: Method, shared: bool) -> bool:
    if rule.voids is Voids.ALL:
        return True
    if rule.voids is Voids.NONE:
        return False
    if method is Method.EXPLICIT:
        return True
    return rule.voids is Voids.SOLE and not shared


def _order(event: Event) -> tuple[datetime, int]:
    return (event.occurred_at, event.id)


def attribute(
    rule: IncidentRule,
    trigger: Event,
    refs: Mapping[str, list[str]],
    linked: Linked,
    by_service: ByService,
) -> tuple[tuple[Attribution, ...], tuple[ServiceWindow, ...]]:
    """The incidents attributed to the unit of ``trigger`` (refs gathered so far),
    one per incident (explicit wins), in (time, event id) order; and the service
    windows whose events the answer depends on."""
    found: dict[str, Attribution] = {}
    for event in linked(ATTRIBUTED_TYPE, EXPLICIT_LINK, refs):
        if event.occurred_at < trigger.occurred_at or not names_change(event, trigger):
            continue
        key = incident_key(event)
        if key not in found:  # the earliest explicit attribution of an incident
            found[key] = Attribution(
                incident=key,
                event_id=event.id,
                method=Method.EXPLICIT,
                occurred_at=event.occurred_at,
                deploy_id=None,
                shared=False,
                voids=_voids(rule, Method.EXPLICIT, False),
            )

    window = timedelta(hours=rule.window_hours)
    windows: list[ServiceWindow] = []
    deploys = [
        d
        for d in linked(DEPLOY_TYPE, ("deploy",), refs)
        if d.service is not None and is_production(d) and d.occurred_at >= trigger.occurred_at
    ]
    for deploy in deploys:
        service = deploy.service
        assert service is not None
        end = deploy.occurred_at + window
        windows.append((service, deploy.occurred_at, end))
        opened = [
            i
            for i in by_service(INCIDENT_TYPE, service)
            if deploy.occurred_at <= i.occurred_at <= end
        ]
        if not opened:
            continue  # most windows: nothing to attribute
        later = [
            d
            for d in by_service(DEPLOY_TYPE, service)
            if _order(d) > _order(deploy) and d.occurred_at <= end and is_production(d)
        ]
        shared = len(set(deploy.refs.get("commit") or ())) > 1
        for incident in opened:
            if any(d.occurred_at <= incident.occurred_at for d in later):
                continue  # a later deploy of the service came first: it takes the blame
            key = incident_key(incident)
            if key in found:
                continue
            found[key] = Attribution(
                incident=key,
                event_id=incident.id,
                method=Method.DEPLOY_WINDOW,
                occurred_at=incident.occurred_at,
                deploy_id=deploy.id,
                shared=shared,
                voids=_voids(rule, Method.DEPLOY_WINDOW, shared),
            )
    ordered = sorted(found.values(), key=lambda a: (a.occurred_at, a.event_id, a.incident))
    return tuple(ordered), tuple(sorted(set(windows)))
