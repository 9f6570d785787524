"""Output shapes of the reports, for the OpenAPI schema (and clients reading it).

The views build plain dicts in the selectors; these serializers document them.
"""

from __future__ import annotations

from rest_framework import serializers


class Tokens(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_creation_input_tokens = serializers.IntegerField()
    cache_read_input_tokens = serializers.IntegerField()


def _money(more: str = "") -> serializers.CharField:
    text = f'USD as a decimal string, e.g. "12.500000000". {more}'
    return serializers.CharField(allow_null=True, help_text=text.strip())


_PRICED = (
    "The priced spend: null when every usage record counted is unpriced (the cost is "
    "unknown, not zero); the row's `unpriced_records` count says how many records it "
    "leaves out."
)


def _amount() -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text="AWUs as a decimal string.")


def _rate(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class TiedMoney(serializers.Serializer):
    completed = _money()
    voided = _money()
    pending = _money()
    expired = _money()
    none = _money()


class TiedShare(serializers.Serializer):
    completed = _rate("Share of spend tied to completed units.")
    voided = _rate("Share tied to voided units.")
    pending = _rate("Share tied to pending units.")
    expired = _rate("Share tied to expired units.")
    none = _rate("Share tied to no unit.")


class Denominators(serializers.Serializer):
    units = serializers.IntegerField(allow_null=True)
    completed_units = serializers.IntegerField(allow_null=True)
    usage_records = serializers.IntegerField(allow_null=True)
    unpriced_records = serializers.IntegerField(
        allow_null=True,
        help_text="Usage records with no cost (a model missing from the price book): "
        "left out of the cost, which is null when they are all of it.",
    )
    people = serializers.IntegerField()
    pending_units = serializers.IntegerField(
        allow_null=True, help_text="Units still open (waiting for a requirement or maturing)."
    )
    maturing_units = serializers.IntegerField(
        allow_null=True, help_text="Units inside their survival window."
    )
    completed_units_ai = serializers.IntegerField(
        allow_null=True, help_text="Completed units that were AI-assisted."
    )
    completed_units_other = serializers.IntegerField(
        allow_null=True, help_text="Completed units not AI-assisted, or not known to be."
    )


class QualityNumerators(serializers.Serializer):
    incidents = serializers.IntegerField(help_text="Incidents attributed to completed units.")
    incidents_ai = serializers.IntegerField()
    incidents_other = serializers.IntegerField()
    bugs = serializers.IntegerField(help_text="Bug issues naming completed units' changes.")
    bugs_ai = serializers.IntegerField()
    bugs_other = serializers.IntegerField()
    review_hours = serializers.CharField(
        help_text="Hours from first review request to each approval, summed (decimal string)."
    )
    review_hours_ai = serializers.CharField()
    review_hours_other = serializers.CharField()


def _quality(what: str, among: str = "completed units") -> serializers.FloatField:
    return _rate(
        f"{what} per unit over {among} (`quality_numerators` over `denominators`);"
        " null when there are none."
    )


_AI = "AI-assisted completed units"
_OTHER = "the other completed units (not AI-assisted, or not known)"


class EfficiencyRow(serializers.Serializer):
    team = serializers.CharField(required=False, allow_null=True, help_text="Team slug.")
    department = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Slug of the top of the team's org tree (the team itself when it has no "
        "parent); null: no team.",
    )
    cost_centre = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The team's cost centre, or its nearest ancestor's; null: none set.",
    )
    person = serializers.IntegerField(required=False, allow_null=True, help_text="Person id.")
    domain = serializers.CharField(required=False, allow_null=True)
    definition = serializers.CharField(required=False, allow_null=True, help_text="Definition key.")
    model = serializers.CharField(required=False, allow_null=True)
    period = serializers.CharField(
        required=False, allow_null=True, help_text="First day of the week or month (UTC)."
    )
    awus_completed = _amount()
    awus_pending = _amount()
    awus_voided = _amount()
    awus_expired = _amount()
    units = serializers.IntegerField(allow_null=True, help_text="Work units counted.")
    token_cost_usd = _money(_PRICED)
    tokens = Tokens(allow_null=True)
    awus_per_dollar = _rate(
        "AWUs completed per USD of spend; null without spend or when its cost is unknown."
    )
    cost_per_awu = _money("Null without AWUs or when the cost is unknown.")
    durability = _rate("completed / (completed + voided); null when both are 0.")
    awus_maturing = serializers.CharField(
        allow_null=True,
        help_text="AWUs of the units inside their survival window (not yet counted).",
    )
    projected_awus = serializers.CharField(
        allow_null=True,
        help_text="A projection: the AWUs the maturing units would add at the historical "
        "durability of their team and definition (docs/reports.md#maturity); null when a "
        "definition has no settled units to project from.",
    )
    settles_by = serializers.DateField(
        allow_null=True,
        help_text="The UTC day by which every open unit of the group has settled; null: "
        "the group's figures are final.",
    )
    low_sample = serializers.BooleanField(
        help_text="Too few units or too little spend to rank (docs/reports.md#small-numbers)."
    )
    ai_assisted_share = _rate("Share of completed units that were AI-assisted.")
    spend_tied_usd = TiedMoney(allow_null=True)
    spend_tied_share = TiedShare(allow_null=True)
    incidents_per_completed_unit = _quality("Incidents attributed")
    incidents_per_completed_unit_ai = _quality("Incidents attributed", _AI)
    incidents_per_completed_unit_other = _quality("Incidents attributed", _OTHER)
    bugs_per_completed_unit = _quality("Bugs reported")
    bugs_per_completed_unit_ai = _quality("Bugs reported", _AI)
    bugs_per_completed_unit_other = _quality("Bugs reported", _OTHER)
    review_hours_per_completed_unit = _quality("Review hours")
    review_hours_per_completed_unit_ai = _quality("Review hours", _AI)
    review_hours_per_completed_unit_other = _quality("Review hours", _OTHER)
    quality_numerators = QualityNumerators(allow_null=True)
    denominators = Denominators()


class Projection(serializers.Serializer):
    lookback_days = serializers.IntegerField()
    min_settled_units = serializers.IntegerField()


class EfficiencyReport(serializers.Serializer):
    results = EfficiencyRow(many=True)
    projection = Projection()
    group_by = serializers.ListField(child=serializers.CharField())
    basis = serializers.ChoiceField(choices=["triggered", "completed"])
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["rollups", "raw"], help_text="What the numbers were summed from."
    )


class DecileRow(serializers.Serializer):
    team = serializers.CharField(required=False, allow_null=True)
    decile = serializers.IntegerField(min_value=1, max_value=10)
    people = serializers.IntegerField()
    token_cost_usd = _money(_PRICED)
    awus_completed = _amount()
    awus_per_dollar = _rate("AWUs per USD; null without spend or when its cost is unknown.")
    median_cost_per_awu = _money("Over the people with AWUs whose spend is known.")
    min_person_cost_usd = _money("Null when that person's spend is all unpriced.")
    max_person_cost_usd = _money("Null when that person's spend is all unpriced.")
    unpriced_records = serializers.IntegerField(
        help_text="The decile's usage records with no cost, left out of its spend."
    )


class DecileReport(serializers.Serializer):
    results = DecileRow(many=True)
    by = serializers.ChoiceField(choices=["person", "team"])


class Marker(serializers.Serializer):
    definition = serializers.CharField()
    version = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["rule", "rescore"])
    published_at = serializers.DateTimeField()
    label = serializers.CharField()  # type: ignore[assignment]


class TrendReport(serializers.Serializer):
    results = EfficiencyRow(many=True)
    projection = Projection()
    markers = Marker(many=True)
    interval = serializers.ChoiceField(choices=["week", "month"])


class EvidenceItem(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(allow_null=True)


class EvidenceDetail(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    subject = serializers.CharField(allow_null=True)
    refs = serializers.DictField()


class Entry(serializers.Serializer):
    id = serializers.IntegerField()
    delta = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    effective_at = serializers.DateTimeField()


class AttributionItem(serializers.Serializer):
    incident = serializers.CharField(help_text="`incident:<ref>`, else `event:<id>`.")
    event = serializers.IntegerField(help_text="The event that attributes it.")
    method = serializers.ChoiceField(choices=["explicit", "deploy-window"])
    at = serializers.DateTimeField()
    deploy = serializers.IntegerField(allow_null=True, help_text="The deploy event (window).")
    shared = serializers.BooleanField(help_text="The deploy held several changes.")
    voids = serializers.BooleanField(help_text="The rule lets it void the unit in its window.")


class IncidentRow(serializers.Serializer):
    method = serializers.ChoiceField(choices=["explicit", "deploy-window", "unattributed"])
    incidents = serializers.IntegerField()
    attributions = serializers.IntegerField()
    shared_attributions = serializers.IntegerField()
    voiding_attributions = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    denominators = serializers.DictField(child=serializers.IntegerField())


class IncidentReport(serializers.Serializer):
    results = IncidentRow(many=True)


class WorkUnitRow(serializers.Serializer):
    id = serializers.IntegerField()
    definition = serializers.CharField()
    version = serializers.IntegerField()
    domain = serializers.CharField()
    state = serializers.ChoiceField(choices=["pending", "completed", "voided", "expired"])
    units = serializers.CharField()
    credited = serializers.CharField()
    actor = serializers.CharField(allow_null=True)
    person = serializers.IntegerField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    subject = serializers.CharField(allow_null=True)
    triggered_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why the unit is pending, voided or expired, in words built from its "
        "evidence, e.g. 'The deal moved back from Negotiation to Qualification on 4 Nov "
        "2026 (HubSpot)'.",
    )
    reason_code = serializers.CharField(
        allow_null=True,
        help_text="The scoring engine's reason as recorded, e.g. 'voided by "
        "crm.opportunity.stage_changed (event 812)'.",
    )
    ai_assisted = serializers.BooleanField(allow_null=True)
    evidence = EvidenceItem(many=True)
    attributions = AttributionItem(many=True)
    entries = Entry(many=True)


class WorkUnitPage(serializers.Serializer):
    results = WorkUnitRow(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class VersionRow(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["draft", "published"])
    trigger_type = serializers.CharField()
    trigger_condition = serializers.CharField(allow_null=True)
    requires = serializers.ListField(child=serializers.DictField())
    survive_days = serializers.IntegerField()
    disqualifiers = serializers.ListField(child=serializers.DictField())
    units = serializers.CharField()
    incidents = serializers.DictField(
        allow_null=True, help_text="The incident rule: window_hours and voids (null: none)."
    )
    covers_from = serializers.DateTimeField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()


class TiedSpend(serializers.Serializer):
    method = serializers.ChoiceField(choices=["exact", "none"])
    usage_records = serializers.IntegerField()
    unpriced_records = serializers.IntegerField(
        help_text="Tied usage records with no cost, left out of the cost."
    )
    token_cost_usd = _money(_PRICED)
    tokens = Tokens()


class WorkUnitDetail(WorkUnitRow):
    evidence = EvidenceDetail(many=True)  # type: ignore[assignment]
    trigger_event_id = serializers.IntegerField()
    definition_version = VersionRow()
    superseded_at = serializers.DateTimeField(allow_null=True)
    spend_tied = TiedSpend()


class DefinitionRow(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    domain = serializers.CharField()
    description = serializers.CharField()
    owner_team = serializers.CharField(allow_null=True)
    latest_published_version = serializers.IntegerField(allow_null=True)


class DefinitionList(serializers.Serializer):
    results = DefinitionRow(many=True)


class DefinitionDetail(DefinitionRow):
    latest_published_version = None  # type: ignore[assignment]
    versions = VersionRow(many=True)


# The one request body read by a DRF serializer rather than pydantic (ledger.schemas):
# the reasons it gives (DRF's wording) are what clients already receive, and the
# schema documents the body from it.
class PreviewIn(serializers.Serializer):
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Version number; default: the latest."
    )
    days = serializers.IntegerField(required=False, min_value=1, max_value=365, default=30)


class PreviewUnit(serializers.Serializer):
    trigger_id = serializers.IntegerField()
    state = serializers.CharField()
    units = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    triggered_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    actor = serializers.CharField(allow_null=True)
    subject = serializers.CharField(allow_null=True)
    evidence = serializers.ListField(child=serializers.DictField())


class PreviewOut(serializers.Serializer):
    days = serializers.IntegerField()
    since = serializers.DateTimeField()
    now = serializers.DateTimeField()
    units_total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    credit = serializers.CharField()
    sample = PreviewUnit(many=True)
    warnings = serializers.IntegerField()
    truncated = serializers.BooleanField()
    problems = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
