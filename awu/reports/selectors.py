"""Report reads: efficiency, trend, spend deciles, work units, definitions.

Reports read the rollups (``awu.reports.rollups``), refreshed first when they
are behind; ``as_of`` reports and periods that are not whole UTC days read the
raw tables (``aggregate.side_rows(raw=True)``). Both give the same numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import CharField, Count, F, Func, Max, Q, Sum, Value
from django.db.models.functions import Coalesce

from awu.definitions.models import Definition, DefinitionVersion
from awu.reports import rollups
from awu.reports.aggregate import side_rows
from awu.reports.facts import TRIGGER_JOIN, unit_attribution_sql, usage_unpriced_sql
from awu.reports.maturity import projected_awus
from awu.reports.measures import (
    ZERO,
    amount,
    money,
    priced_cost,
    rate,
    rows_from_sides,
    sides_for,
)
from awu.reports.models import UnitFact
from awu.reports.query import ReportQuery
from awu.reports.reasons import EventFacts, disqualifier_id, reason_words
from awu.scoring.models import AwuEntry, WorkUnit
from ledger import access
from ledger.errors import NotFound
from ledger.identities import resolution_sql
from ledger.models import Team, WorkEvent
from ledger.query import Keyset
from ledger.replica import read_connection
from ledger.spend import sessions_reaching_sql, spend_counted_condition


def _raw(query: ReportQuery) -> bool:
    return query.as_of is not None or not query.day_aligned


def efficiency_report(*, query: ReportQuery) -> list[dict[str, Any]]:
    """AWUs, spend and their ratios per group of ``query.group_by``.

    One row per group that has units, entries or spend in the period (one
    total row when ungrouped). Fields: the group keys, then the measures of
    docs/reports.md. Never raises on empty data: ratios over nothing are null.
    """
    raw = _raw(query)
    if not raw:
        rollups.rollups_ensure_fresh()
    projected = projected_awus(query=query, raw=raw)
    return rows_from_sides(query, sides_for(query, raw=raw), projected=projected)


def _periods(start: date, stop: date, interval: str) -> list[date]:
    first = start - timedelta(days=start.weekday()) if interval == "week" else start.replace(day=1)
    out, current = [], first
    while current < stop:
        out.append(current)
        if interval == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def trend_report(
    *, query: ReportQuery, interval: str, settled_only: bool = False
) -> list[dict[str, Any]]:
    """The efficiency measures per ``interval`` (week or month) over the period,
    one row per period even when it is empty. Needs ``query.start``/``stop``.
    ``settled_only`` ends the trend at the last period with units that have all
    settled (``settles_by`` null), leaving out the periods after it (provisional,
    or empty since)."""
    if query.start is None or query.stop is None:
        raise ValueError("a trend needs a start and a stop")
    grouped = replace(query, group_by=(interval,))
    rows = {r["period"]: r for r in efficiency_report(query=grouped)}
    empty = rows_from_sides(grouped, {}, dimensions=())[0]
    out = []
    for period in _periods(query.start.date(), query.stop.date(), interval):
        key = period.isoformat()
        out.append(rows.get(key) or {"period": key, **empty})
    if settled_only:
        final = [i for i, r in enumerate(out) if r["settles_by"] is None and r["units"] != 0]
        out = out[: final[-1] + 1] if final else []
    return out


def spend_deciles(*, query: ReportQuery, by_team: bool = False) -> list[dict[str, Any]]:
    """People ranked by token spend into deciles (1 = least spend, 10 = most),
    within each team when ``by_team``.

    Each decile: people, spend, AWUs completed, AWUs per dollar, the median of
    its people's cost per AWU (over those with AWUs and a known spend) and its
    unpriced usage records. People rank by priced spend: a person whose spend is
    all unpriced has an unknown spend (null), ranked as none, and a decile whose
    spend is all unpriced has a null spend and rate. People with AWUs and no
    spend rank lowest. Spend or AWUs of actors mapped to no person are not in
    any decile.
    """
    raw = _raw(query)
    if not raw:
        rollups.rollups_ensure_fresh()
    extra = ("team", "person") if by_team else ("person",)
    plain = replace(query, group_by=())
    # Per person: (priced cost, records, unpriced records).
    usage: dict[tuple[Any, ...], tuple[Decimal, int, int]] = {}
    awus: dict[tuple[Any, ...], Decimal] = {}
    if plain.spend_applies:
        for part in side_rows("usage", plain, raw=raw, extra_group=extra):
            usage[part["key"]] = (
                Decimal(part["cost"] or ZERO),
                int(part["records"] or 0),
                int(part["unpriced"] or 0),
            )
    if plain.units_apply:
        for part in side_rows("entries", plain, raw=raw, extra_group=extra):
            awus[part["key"]] = Decimal(part["awus_completed"] or ZERO)

    def summed(keys: list[tuple[Any, ...]]) -> tuple[Decimal | None, int]:
        """The priced cost of ``keys``' usage (None: all unpriced) and its unpriced count."""
        parts = [usage.get(k, (ZERO, 0, 0)) for k in keys]
        cost = sum((p[0] for p in parts), ZERO)
        records, unpriced = sum(p[1] for p in parts), sum(p[2] for p in parts)
        return priced_cost(cost, records, unpriced), unpriced

    spend = {k: summed([k])[0] for k in {*usage, *awus}}
    people = [k for k in spend if k[-1] is not None]
    groups: dict[Any, list[tuple[Any, ...]]] = {}
    for key in people:
        groups.setdefault(key[0] if by_team else None, []).append(key)
    out = []
    for group in sorted(groups, key=lambda g: (g is None, str(g))):
        ranked = sorted(groups[group], key=lambda k: (spend[k] or ZERO, k[-1]))
        count = len(ranked)
        for decile in range(1, 11):
            members = [k for i, k in enumerate(ranked) if i * 10 // count + 1 == decile]
            cost, unpriced = summed(members)
            done = sum((awus.get(k, ZERO) for k in members), ZERO)
            per_person = [
                known / awus[k]
                for k in members
                if awus.get(k, ZERO) > 0 and (known := spend[k]) is not None
            ]
            row: dict[str, Any] = {"team": group} if by_team else {}
            row.update(
                decile=decile,
                people=len(members),
                token_cost_usd=money(cost),
                awus_completed=amount(done),
                awus_per_dollar=rate(done, cost) if cost is not None else None,
                median_cost_per_awu=money(statistics.median(per_person)) if per_person else None,
                min_person_cost_usd=money(spend[members[0]]) if members else None,
                max_person_cost_usd=money(spend[members[-1]]) if members else None,
                unpriced_records=unpriced,
            )
            out.append(row)
    return out


# --- Work units -------------------------------------------------------------------------


def _unit_queryset(query: ReportQuery, state: str | None) -> Any:
    qs = WorkUnit.objects.select_related("version__definition").filter(superseded_at__isnull=True)
    if state:
        qs = qs.filter(state=state)
    if query.start is not None:
        qs = qs.filter(triggered_at__gte=query.start)
    if query.stop is not None:
        qs = qs.filter(triggered_at__lt=query.stop)
    if query.team is not None or query.person is not None or query.teams is not None:
        # Whose a unit is, is resolved when read (awu.reports.facts): the unit facts
        # hold it, kept fresh by the rollups.
        rollups.rollups_ensure_fresh()
        facts_qs = UnitFact.objects.all()
        if query.team is not None:
            # A team's units include those of the teams merged into it.
            teams = Team.objects.filter(Q(slug=query.team) | Q(merged_into__slug=query.team))
            facts_qs = facts_qs.filter(team_id__in=teams.values("pk"))
        if query.person is not None:
            facts_qs = facts_qs.filter(person_id=query.person)
        if query.teams is not None:
            # The caller's team limits: a unit with no team needs every team.
            facts_qs = facts_qs.filter(team_id__in=sorted(query.teams))
        qs = qs.filter(pk__in=facts_qs.values("unit_id"))
    if query.domain is not None:
        qs = qs.filter(version__definition__domain=query.domain)
    if query.definition is not None:
        qs = qs.filter(version__definition__key=query.definition)
    if query.ai == "assisted":
        qs = qs.filter(ai_assisted=True)
    elif query.ai == "not":
        qs = qs.filter(Q(ai_assisted=False) | Q(ai_assisted__isnull=True))
    return qs


def _entries(unit_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for e in AwuEntry.objects.filter(unit_id__in=unit_ids).order_by("id"):
        out.setdefault(e.unit_id, []).append(
            {
                "id": e.pk,
                "delta": amount(e.delta),
                "state": e.state,
                "reason": e.reason,
                "created_at": e.created_at,
                "effective_at": e.effective_at,
            }
        )
    return out


def _attribution(unit_ids: list[int]) -> dict[int, tuple[int | None, str | None]]:
    """unit id -> (person id, team slug) as reports count them now: resolved from
    the trigger event (``facts.unit_attribution_sql``), a merged team reported as
    the team it was merged into. One query."""
    return {k: (person, slug) for k, (person, slug, _) in _attributed(unit_ids).items()}


def _attributed(unit_ids: list[int]) -> dict[int, tuple[int | None, str | None, int | None]]:
    """unit id -> (person id, counted team slug, team id as resolved)."""
    if not unit_ids:
        return {}
    who = unit_attribution_sql()
    with read_connection().cursor() as cursor:
        cursor.execute(
            f"""
            SELECT x.id, x.person_id, c.slug, x.team_id FROM (
                SELECT w.id, {who.person_id} AS person_id, {who.team_id} AS team_id
                FROM scoring_workunit w {TRIGGER_JOIN} {who.join}
                WHERE w.id = ANY(%(ids)s)
            ) x
            LEFT JOIN ledger_team m ON m.id = x.team_id
            LEFT JOIN ledger_team c ON c.id = COALESCE(m.merged_into_id, m.id)
            """,  # noqa: S608 - fixed SQL; values travel as parameters
            {"ids": unit_ids},
        )
        return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}


def _reason(unit: WorkUnit, events: dict[int, WorkEvent]) -> str | None:
    """The unit's reason in words, from the disqualifying event among ``events``."""
    voider = events.get(disqualifier_id(unit.reason) or 0)
    facts = (
        {
            voider.pk: EventFacts(
                voider.type, voider.occurred_at, voider.attributes or {}, voider.source.kind
            )
        }
        if voider is not None
        else {}
    )
    return reason_words(unit.reason, facts)


def _events(ids: set[int]) -> dict[int, WorkEvent]:
    """The evidence events, with what reasons in words read of them, in one query."""
    qs = WorkEvent.objects.filter(pk__in=ids).select_related("source")
    return {e.pk: e for e in qs.only("id", "type", "occurred_at", "attributes", "source__kind")}


def _unit_row(
    unit: WorkUnit,
    events: dict[int, WorkEvent],
    entries: dict[int, list[dict[str, Any]]],
    attribution: dict[int, tuple[int | None, str | None]],
) -> dict[str, Any]:
    person, team = attribution.get(unit.pk, (None, None))
    return {
        "id": unit.pk,
        "definition": unit.version.definition.key,
        "version": unit.version.version,
        "domain": unit.version.definition.domain,
        "state": unit.state,
        "units": amount(unit.units),
        "credited": amount(unit.credited),
        "actor": unit.actor,
        "person": person,
        "team": team,
        "subject": unit.subject,
        "triggered_at": unit.triggered_at,
        "completed_at": unit.completed_at,
        "closes_at": unit.closes_at,
        "reason": _reason(unit, events),
        "reason_code": unit.reason,
        "ai_assisted": unit.ai_assisted,
        "evidence": [
            {"id": event_id, "type": events[event_id].type if event_id in events else None}
            for event_id in unit.evidence
        ],
        # The incidents tied to the unit, each with how (explicit or deploy-window).
        "attributions": unit.attributions,
        "entries": entries.get(unit.pk, []),
    }


def work_units_list(
    *,
    query: ReportQuery,
    state: str | None,
    refs: tuple[str, ...] = (),
    keyset: Keyset,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Reportable (not superseded) work units in ``keyset``'s order of id (newest
    or oldest first), from its cursor on; ``query``'s period filters the triggered
    time, ``refs`` ("kind:value", all must match) the unit's refs. Returns (rows,
    the next page's cursor or None)."""
    qs = _unit_queryset(query, state)
    if refs:
        qs = qs.filter(ref_keys__contains=list(refs))
    units = list(keyset.apply(qs)[: limit + 1])
    more = len(units) > limit
    units = units[:limit]
    events = _events({i for u in units for i in u.evidence})
    entries = _entries([u.pk for u in units])
    attribution = _attribution([u.pk for u in units])
    rows = [_unit_row(u, events, entries, attribution) for u in units]
    return rows, keyset.next_cursor(units[-1].pk if more and units else None)


def unit_tied_spend(unit: WorkUnit, *, teams: frozenset[int] | None = None) -> dict[str, Any]:
    """The counted token spend whose refs reach the unit's refs: directly (a
    shared PR, ticket, commit... key) or through a session whose
    ``x.session.commit`` event names one of the unit's commits. Its cost is the
    priced records' (null when all are unpriced), with the unpriced count.
    ``teams``: only the spend of those teams (as reports resolve it; None: all)."""
    keys = list(unit.ref_keys)
    if not keys:
        return _tied(0, 0, ZERO, [0, 0, 0, 0])
    limit, join = "", ""
    params: dict[str, Any] = {"keys": keys}
    if teams is not None:
        who = resolution_sql(actor="u.actor", at="u.occurred_at", named_team="u.team")
        join = who.join
        limit = f"AND {who.team_id} = ANY(%(visible_teams)s)"
        params["visible_teams"] = sorted(teams)
    with read_connection().cursor() as cursor:
        cursor.execute(
            f"""
            WITH sessions AS ({sessions_reaching_sql("%(keys)s::varchar[]")})
            SELECT count(*), count(*) FILTER (WHERE {usage_unpriced_sql("u")}),
                COALESCE(sum(COALESCE(u.cost_usd, 0) + COALESCE(
                    (SELECT sum(a.delta_usd) FROM ledger_costadjustment a WHERE a.usage_id = u.id), 0)), 0),
                COALESCE(sum(u.input_tokens), 0), COALESCE(sum(u.output_tokens), 0),
                COALESCE(sum(u.cache_creation_input_tokens), 0),
                COALESCE(sum(u.cache_read_input_tokens), 0)
            FROM ledger_tokenusage u {join}
            WHERE u.ref_keys && (%(keys)s::varchar[] || ARRAY(SELECT s FROM sessions)::varchar[])
              AND {spend_counted_condition("u")} {limit}
            """,  # noqa: S608 - constant SQL; values travel as parameters
            params,
        )
        count, unpriced, cost, *tokens = cursor.fetchone() or (0, 0, ZERO, 0, 0, 0, 0)
    return _tied(int(count), int(unpriced), Decimal(cost), [int(t) for t in tokens])


def _tied(count: int, unpriced: int, cost: Decimal, tokens: list[int]) -> dict[str, Any]:
    return {
        "method": "exact" if count else "none",
        "usage_records": count,
        "unpriced_records": unpriced,
        "token_cost_usd": money(priced_cost(cost, count, unpriced)),
        "tokens": dict(
            zip(
                (
                    "input_tokens",
                    "output_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ),
                tokens,
                strict=True,
            )
        ),
    }


def work_unit_detail(*, unit_id: int, teams: frozenset[int] | None = None) -> dict[str, Any]:
    """One work unit with its evidence chain, rule version, entries and tied spend;
    raises ``NotFound`` when there is no such unit, or when it is not of ``teams``
    (the caller's team limits, None: every team): the same answer, so a limited
    caller cannot tell another team's unit from a missing one. Its tied spend is
    then the spend of those teams only."""
    unit = (
        WorkUnit.objects.select_related("version__definition", "superseded_by")
        .filter(pk=unit_id)
        .first()
    )
    if unit is None:
        raise NotFound("No such work unit.")
    attributed = _attributed([unit.pk])
    if not access.may_read_team(teams, attributed.get(unit.pk, (None, None, None))[2]):
        raise NotFound("No such work unit.")
    events = {
        e.pk: e for e in WorkEvent.objects.filter(pk__in=unit.evidence).select_related("source")
    }
    attribution = {k: (person, slug) for k, (person, slug, _) in attributed.items()}
    row = _unit_row(unit, events, _entries([unit.pk]), attribution)
    row["evidence"] = [
        {
            "id": event_id,
            "type": events[event_id].type,
            "occurred_at": events[event_id].occurred_at,
            "actor": events[event_id].actor,
            "subject": events[event_id].subject,
            "refs": events[event_id].refs,
        }
        for event_id in unit.evidence
        if event_id in events
    ]
    row["trigger_event_id"] = unit.trigger_event_id
    row["definition_version"] = version_row(unit.version)
    row["superseded_at"] = unit.superseded_at
    row["spend_tied"] = unit_tied_spend(unit, teams=teams)
    return row


# --- Definitions ------------------------------------------------------------------------


def version_row(version: DefinitionVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "version": version.version,
        "status": version.status,
        "trigger_type": version.trigger_type,
        "trigger_condition": version.trigger_condition or None,
        "requires": version.requires,
        "survive_days": version.survive_days,
        "disqualifiers": version.disqualifiers,
        "units": version.units,
        "incidents": version.incidents,
        "covers_from": version.covers_from,
        "published_at": version.published_at,
        "note": version.note,
    }


def _definition_row(definition: Definition, owner: dict[int, str]) -> dict[str, Any]:
    return {
        "id": definition.pk,
        "key": definition.key,
        "name": definition.name,
        "domain": definition.domain,
        "description": definition.description,
        "owner_team": owner.get(definition.owner_team_id) if definition.owner_team_id else None,
    }


def _owned_by(teams: frozenset[int] | None) -> Q:
    """The definitions a caller limited to ``teams`` reads: those its teams own and
    the shared ones (no owner team), which count its teams' work too."""
    if teams is None:
        return Q()
    return Q(owner_team__isnull=True) | Q(owner_team_id__in=sorted(teams))


def definitions_list(
    *, domain: str | None = None, teams: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    """Every definition with its latest published version number (null when none);
    for a caller limited to ``teams``, those of :func:`_owned_by`."""
    qs = Definition.objects.filter(_owned_by(teams)).order_by("domain", "key")
    if domain:
        qs = qs.filter(domain=domain)
    definitions = list(qs)
    owner = dict(Team.objects.values_list("pk", "slug"))
    latest: dict[int, int] = {}
    for definition_id, number in DefinitionVersion.objects.filter(
        status=DefinitionVersion.Status.PUBLISHED
    ).values_list("definition_id", "version"):
        latest[definition_id] = max(latest.get(definition_id, 0), number)
    return [
        {**_definition_row(d, owner), "latest_published_version": latest.get(d.pk)}
        for d in definitions
    ]


def definition_detail(*, definition_id: int, teams: frozenset[int] | None = None) -> dict[str, Any]:
    """One definition with its versions, newest first; raises ``NotFound`` when
    there is no such definition, or it is another team's (``teams``: the caller's
    limits, as :func:`definitions_list`)."""
    definition = Definition.objects.filter(_owned_by(teams), pk=definition_id).first()
    if definition is None:
        raise NotFound("No such definition.")
    owner = (
        dict(Team.objects.filter(pk=definition.owner_team_id).values_list("pk", "slug"))
        if definition.owner_team_id is not None
        else {}
    )
    versions = DefinitionVersion.objects.filter(definition=definition).order_by("-version")
    return {**_definition_row(definition, owner), "versions": [version_row(v) for v in versions]}


def definition_version(*, definition_id: int, number: int | None) -> DefinitionVersion:
    """Version ``number`` of the definition (the latest when None); raises
    ``NotFound`` when the definition or that version does not exist."""
    versions = DefinitionVersion.objects.select_related("definition").filter(
        definition_id=definition_id
    )
    version = (
        versions.filter(version=number).first() if number else versions.order_by("-version").first()
    )
    if version is None:
        raise NotFound("No such definition or version.")
    return version


def rule_changes(*, query: ReportQuery) -> list[dict[str, Any]]:
    """Definition versions published inside the period (``query.start``/``stop``
    and its domain or definition filter; for a caller limited to teams, the
    definitions of :func:`_owned_by`), oldest first: where a trend may jump
    because the rules changed, not the work. A version published by a rescore
    (note "rescore") is ``kind: rescore``, any other ``kind: rule``."""
    qs = DefinitionVersion.objects.filter(published_at__isnull=False).select_related("definition")
    if query.teams is not None:
        qs = qs.filter(definition__in=Definition.objects.filter(_owned_by(query.teams)))
    if query.start is not None:
        qs = qs.filter(published_at__gte=query.start)
    if query.stop is not None:
        qs = qs.filter(published_at__lt=query.stop)
    if query.domain is not None:
        qs = qs.filter(definition__domain=query.domain)
    if query.definition is not None:
        qs = qs.filter(definition__key=query.definition)
    out = []
    for version in qs.order_by("published_at", "pk"):
        kind = "rescore" if version.note == "rescore" else "rule"
        name = f"{version.definition.key} v{version.version}"
        out.append(
            {
                "definition": version.definition.key,
                "version": version.version,
                "kind": kind,
                "published_at": version.published_at,
                "label": f"{name} rescored" if kind == "rescore" else f"{name} published",
            }
        )
    return out


# --- Voided reasons ---------------------------------------------------------------------

# A voided unit's reason reads "voided by <event type> (event <id>)" (awu.rules.engine);
# the event type is what the units have in common.
_VOIDED_BY = r"^voided by (\S+)"


def voided_reasons_report(*, query: ReportQuery, limit: int = 5) -> list[dict[str, Any]]:
    """The disqualifying event types that voided the most units in the period.

    Units as ``work_units_list`` selects them (not superseded, period over the
    triggered time, the same filters) in state voided, grouped by the event type
    that voided them; a reason of another shape is its own group. Each row:
    ``reason``, ``units`` (count), ``awus_voided`` (their units summed, as the
    efficiency report's awus_voided) and ``latest_unit`` (the highest unit id,
    for its evidence). Most units first, at most ``limit`` rows.
    """
    reason = Coalesce(
        Func(F("reason"), Value(_VOIDED_BY), function="substring"),
        F("reason"),
        Value("(no reason)"),
        output_field=CharField(),
    )
    rows = (
        _unit_queryset(query, WorkUnit.State.VOIDED)
        .select_related(None)
        .annotate(cause=reason)
        .values("cause")
        .annotate(count=Count("id"), voided=Sum("units"), latest=Max("id"))
        .order_by("-count", "cause")[:limit]
    )
    return [
        {
            "reason": row["cause"],
            "units": row["count"],
            "awus_voided": amount(row["voided"]),
            "latest_unit": row["latest"],
        }
        for row in rows
    ]
