"""The AWU definitions the product ships, one per domain, as plain data.

``install_default_definitions`` publishes these (idempotently); docs/rules.md
explains each one. Expressions only read attributes documented in
docs/events.md, and guard optional ones with ``has()`` so a tool that leaves
one out does not produce scoring warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from awu.rules.spec import Clause, DefinitionSpec, IncidentRule, Voids


@dataclass(frozen=True, slots=True)
class DefaultDefinition:
    name: str
    description: str
    spec: DefinitionSpec


# A deploy or rollback that names no environment counts as production: most
# deploy tools only report production deploys.
PRODUCTION = '!has(event.attributes.environment) || event.attributes.environment == "production"'

TRAFFIC_VISITS_AT_LEAST = Decimal(1000)


def durable_change(
    *,
    deploy_within_days: int = 14,
    survive_days: int = 30,
    incident_window_hours: int = 24,
    incident_voids: Voids = Voids.SOLE,
) -> DefaultDefinition:
    return DefaultDefinition(
        name="Durable change",
        description=(
            "A pull request merged into the default branch that reached production "
            f"within {deploy_within_days} days and stayed there for {survive_days} days: "
            "no revert, no rollback of its deploy, no incident attributed to it (named "
            f"in the incident, or opened on its service within {incident_window_hours} "
            "hours of its deploy when it was the deploy's only change)."
        ),
        spec=DefinitionSpec(
            key="durable-change",
            version=1,
            domain="engineering",
            trigger_type="code.pr.merged",
            trigger_condition=(
                "event.attributes.base_branch == event.attributes.default_branch"
                " && !(has(event.attributes.draft) && event.attributes.draft)"
            ),
            requires=(
                Clause(
                    type="deploy.succeeded",
                    condition=PRODUCTION,
                    link=("commit",),
                    within_days=deploy_within_days,
                    carry=("deploy",),
                ),
            ),
            survive_days=survive_days,
            disqualifiers=(
                Clause(type="code.reverted", link=("commit", "pr")),
                Clause(type="deploy.rolled_back", condition=PRODUCTION, link=("deploy", "commit")),
            ),
            incidents=IncidentRule(window_hours=incident_window_hours, voids=incident_voids),
        ),
    )


def opportunity_progressed(*, survive_days: int = 14) -> DefaultDefinition:
    return DefaultDefinition(
        name="Opportunity progressed",
        description=(
            "A deal moved forward a pipeline stage, or closed won, and did not move "
            f"back below that stage (or close lost) within {survive_days} days."
        ),
        spec=DefinitionSpec(
            key="opportunity-progressed",
            version=1,
            domain="sales",
            trigger_type="crm.opportunity.stage_changed",
            trigger_condition=(
                "!(has(event.attributes.lost) && event.attributes.lost)"
                " && ((has(event.attributes.won) && event.attributes.won)"
                " || (has(event.attributes.from_order) && has(event.attributes.to_order)"
                " && event.attributes.to_order > event.attributes.from_order))"
            ),
            survive_days=survive_days,
            disqualifiers=(
                Clause(
                    type="crm.opportunity.stage_changed",
                    link=("deal",),
                    condition=(
                        "(has(event.attributes.lost) && event.attributes.lost)"
                        " || (has(event.attributes.to_order) && has(trigger.attributes.to_order)"
                        " && event.attributes.to_order < trigger.attributes.to_order)"
                    ),
                ),
            ),
        ),
    )


def contract_signed(*, survive_days: int = 30) -> DefaultDefinition:
    return DefaultDefinition(
        name="Contract signed",
        description=(
            "A contract signed by every party and not cancelled, terminated or rescinded "
            f"within {survive_days} days. Drafts, sends and views are not work units."
        ),
        spec=DefinitionSpec(
            key="contract-signed",
            version=1,
            domain="legal",
            trigger_type="contract.signed",
            survive_days=survive_days,
            disqualifiers=(Clause(type="contract.cancelled", link=("envelope",)),),
        ),
    )


def resolution(*, survive_days: int = 7) -> DefaultDefinition:
    return DefaultDefinition(
        name="Resolution",
        description=(f"A customer ticket resolved and not reopened within {survive_days} days."),
        spec=DefinitionSpec(
            key="resolution",
            version=1,
            domain="support",
            trigger_type="ticket.resolved",
            survive_days=survive_days,
            disqualifiers=(Clause(type="ticket.reopened", link=("ticket",)),),
        ),
    )


def content_drove_traffic(
    *,
    visits_at_least: Decimal = TRAFFIC_VISITS_AT_LEAST,
    within_days: int = 30,
    survive_days: int = 30,
) -> DefaultDefinition:
    return DefaultDefinition(
        name="Content drove traffic",
        description=(
            f"Published content that drew at least {visits_at_least} visits within "
            f"{within_days} days of publication and was not unpublished or retracted "
            f"within {survive_days} days of reaching them."
        ),
        spec=DefinitionSpec(
            key="content-drove-traffic",
            version=1,
            domain="marketing",
            trigger_type="content.published",
            requires=(
                Clause(
                    type="content.traffic",
                    link=("content",),
                    within_days=within_days,
                    total="event.attributes.visits",
                    at_least=visits_at_least,
                ),
            ),
            survive_days=survive_days,
            disqualifiers=(Clause(type="content.unpublished", link=("content",)),),
        ),
    )


DEFAULT_DEFINITIONS: tuple[DefaultDefinition, ...] = (
    durable_change(),
    opportunity_progressed(),
    contract_signed(),
    resolution(),
    content_drove_traffic(),
)
