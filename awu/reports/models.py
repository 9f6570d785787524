"""Rollups that make the reports fast: pre-summed facts by UTC day.

They are a cache of the ledger and the scoring state, never a source of truth:
``awu.reports.rollups`` rebuilds any day from the raw tables, and a report over
rollups equals the same report computed from the raw tables
(``awu.reports.aggregate`` with ``raw=True``). Every rollup row carries the resolved
person and team, so any grouping is a sum over rollup rows.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class UsageQueue(models.Model):
    """Token-usage records stored but not yet folded into the rollups.

    A statement trigger on ledger_tokenusage (migration 0003) writes one row per
    record in the same transaction as the records, whoever writes them (the API,
    OTLP, usage imports, a bulk COPY). The refresh deletes the rows it takes and
    adds those records' facts to the rollups; until then a recomputed day leaves
    them out. So each record is folded in exactly once, and a day that only
    gained records is updated by their sums instead of being recomputed whole.
    """

    usage_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"usage {self.usage_id} not yet rolled up"


class RollupRefresh(models.Model):
    """When the rollups were last brought up to date (one row; none before the first
    build, which is how a refresh knows to build them from the raw tables)."""

    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rollups refreshed at {self.refreshed_at:%Y-%m-%d %H:%M:%S}"


class WorkDimensions(models.Model):
    """The dimensions every unit and entry rollup row is grouped by."""

    team_id = models.BigIntegerField(null=True)
    definition_id = models.BigIntegerField()
    domain = models.CharField(max_length=40)
    ai_assisted = models.BooleanField(null=True)

    class Meta:
        abstract = True


class PersonWorkDimensions(WorkDimensions):
    """The same, down to the person (the daily rollups)."""

    person_id = models.BigIntegerField(null=True)

    class Meta:
        abstract = True


class Maturity(models.Model):
    """Where a pending unit stands (``awu.reports.facts.unit_facts_sql``): inside its
    survival window (``maturing``) and the day by which it settles; both false and
    null for a settled unit. In a monthly row ``settle_day`` is the latest one."""

    maturing = models.BooleanField(default=False)
    settle_day = models.DateField(null=True)

    class Meta:
        abstract = True


def maturing_index(column: str, name: str) -> models.Index:
    """The unit rollup rows of units inside their survival window, by ``column``: the
    projection reads only those (``awu.reports.maturity``), a few weeks' worth of a
    year's rows."""
    return models.Index(fields=[column], name=name, condition=models.Q(maturing=True))


class UnitFact(PersonWorkDimensions, Maturity):
    """One work unit as reports see it (superseded units are absent), with its
    quality measures when completed (``awu.reports.quality``; 0 otherwise)."""

    unit_id = models.BigIntegerField(primary_key=True)
    trig_day = models.DateField()
    comp_day = models.DateField()
    state = models.CharField(max_length=10)
    units = models.DecimalField(max_digits=20, decimal_places=6)
    incidents = models.IntegerField(default=0)
    bugs = models.IntegerField(default=0)
    review_hours = models.DecimalField(max_digits=20, decimal_places=6, default=0)

    class Meta:
        indexes = [models.Index(fields=["trig_day"], name="reports_unitfact_day")]

    def __str__(self) -> str:
        return f"unit {self.unit_id} {self.state}"


class QualitySums(models.Model):
    """The quality measures of the completed units a unit rollup row counts, summed."""

    incidents_sum = models.BigIntegerField(default=0)
    bugs_sum = models.BigIntegerField(default=0)
    review_hours_sum = models.DecimalField(max_digits=24, decimal_places=6, default=0)

    class Meta:
        abstract = True


class UnitCounts(models.Model):
    """A unit rollup row's state and what it counts."""

    state = models.CharField(max_length=10)
    unit_count = models.BigIntegerField()
    units_sum = models.DecimalField(max_digits=24, decimal_places=6)

    class Meta:
        abstract = True


class EntryCounts(models.Model):
    """What an entry rollup row counts."""

    entry_count = models.BigIntegerField()
    delta_sum = models.DecimalField(max_digits=24, decimal_places=6)

    class Meta:
        abstract = True


class PeopleSet(models.Model):
    """The distinct people of a row without the person: the ``people`` denominator."""

    people = ArrayField(models.BigIntegerField(), default=list)

    class Meta:
        abstract = True


class UnitRollup(PersonWorkDimensions, Maturity, QualitySums, UnitCounts):
    """Work units by triggered day (and completion day) and every dimension."""

    trig_day = models.DateField()
    comp_day = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["trig_day"], name="reports_unitroll_trig"),
            models.Index(fields=["comp_day"], name="reports_unitroll_comp"),
            maturing_index("trig_day", "reports_unitroll_maturing"),
            models.Index(fields=["team_id", "trig_day"], name="reports_unitroll_team"),
        ]

    def __str__(self) -> str:
        return f"units {self.trig_day} {self.state}"


class EntryRollup(PersonWorkDimensions, EntryCounts):
    """AWU entries by effective day (and the unit's triggered day) and every dimension."""

    eff_day = models.DateField()
    trig_day = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["eff_day"], name="reports_entryroll_eff"),
            models.Index(fields=["trig_day"], name="reports_entryroll_trig"),
            models.Index(fields=["team_id", "eff_day"], name="reports_entryroll_team"),
        ]

    def __str__(self) -> str:
        return f"entries {self.eff_day}"


class UsageMeasures(models.Model):
    """The dimensions and sums every usage rollup row carries."""

    team_id = models.BigIntegerField(null=True)
    provider = models.CharField(max_length=60)
    model = models.CharField(max_length=200)
    source_id = models.BigIntegerField()
    tied = models.CharField(max_length=10)
    records = models.BigIntegerField()
    unpriced = models.BigIntegerField()
    cost_usd = models.DecimalField(max_digits=24, decimal_places=9)
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cache_creation_input_tokens = models.BigIntegerField()
    cache_read_input_tokens = models.BigIntegerField()

    class Meta:
        abstract = True


class UsageRollup(UsageMeasures):
    """Counted token spend by day, person, team, provider, model, source and tie state.

    ``tied`` is the best state among the work units the records' refs reach
    (completed, voided, pending, expired) or ``none``.
    """

    day = models.DateField()
    person_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="reports_usageroll_day"),
            models.Index(fields=["team_id", "day"], name="reports_usageroll_team"),
        ]

    def __str__(self) -> str:
        return f"usage {self.day} {self.model}"


# --- Monthly rollups: no person, so a year-long team or model report sums a few
# thousand rows. ``people`` keeps the distinct people of each row, so the
# ``people`` denominator stays exact; they are re-derived from the daily rollups
# above whenever a day of their month is recomputed.


class UsageMonthRollup(UsageMeasures, PeopleSet):
    """``UsageRollup`` summed by UTC month, without the person (kept as a set)."""

    month = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["month"], name="reports_usagemonth_month")]

    def __str__(self) -> str:
        return f"usage {self.month:%Y-%m} {self.model}"


class UnitMonthRollup(WorkDimensions, Maturity, QualitySums, UnitCounts, PeopleSet):
    """``UnitRollup`` summed by triggered month and completion month, without the person."""

    trig_month = models.DateField()
    comp_month = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["trig_month"], name="reports_unitmonth_trig"),
            maturing_index("trig_month", "reports_unitmonth_maturing"),
        ]

    def __str__(self) -> str:
        return f"units {self.trig_month:%Y-%m} {self.state}"


class EntryMonthRollup(WorkDimensions, EntryCounts, PeopleSet):
    """``EntryRollup`` summed by effective month and triggered month, without the person."""

    eff_month = models.DateField()
    trig_month = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["eff_month"], name="reports_entrymonth_eff")]

    def __str__(self) -> str:
        return f"entries {self.eff_month:%Y-%m}"


# --- Weekly rollups: the daily rollups summed by ISO week (Monday to Sunday, as
# ``date_trunc('week', ...)``), without the person (a people set per row), so a
# trend by week sums a week's rows instead of seven days'. Kept exactly like the
# monthly rollups, re-derived from the daily ones with them.


class UsageWeekRollup(UsageMeasures, PeopleSet):
    """``UsageRollup`` summed by ISO week (its Monday), without the person (kept as a set)."""

    week = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["week"], name="reports_usageweek_week")]

    def __str__(self) -> str:
        return f"usage week of {self.week} {self.model}"


class UnitWeekRollup(WorkDimensions, Maturity, QualitySums, UnitCounts, PeopleSet):
    """``UnitRollup`` summed by triggered week and completion week, without the person."""

    trig_week = models.DateField()
    comp_week = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["trig_week"], name="reports_unitweek_trig"),
            maturing_index("trig_week", "reports_unitweek_maturing"),
        ]

    def __str__(self) -> str:
        return f"units week of {self.trig_week} {self.state}"


class EntryWeekRollup(WorkDimensions, EntryCounts, PeopleSet):
    """``EntryRollup`` summed by effective week and triggered week, without the person."""

    eff_week = models.DateField()
    trig_week = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["eff_week"], name="reports_entryweek_eff")]

    def __str__(self) -> str:
        return f"entries week of {self.eff_week}"


# --- Person monthly rollups: the daily rollups summed by UTC month, keeping the
# person, so a year-long report by person (or a person's report, or the spend
# deciles) sums a month's row per person instead of a day's. Kept exactly like
# the monthly rollups above, re-derived from the daily rollups with them.


class UsagePersonMonthRollup(UsageMeasures):
    """``UsageRollup`` summed by UTC month, person kept."""

    month = models.DateField()
    person_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["month"], name="reports_usagepm_month")]

    def __str__(self) -> str:
        return f"usage {self.month:%Y-%m} person {self.person_id} {self.model}"


class UnitPersonMonthRollup(PersonWorkDimensions, Maturity, QualitySums, UnitCounts):
    """``UnitRollup`` summed by triggered month and completion month, person kept."""

    trig_month = models.DateField()
    comp_month = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["trig_month"], name="reports_unitpm_trig"),
            maturing_index("trig_month", "reports_unitpm_maturing"),
        ]

    def __str__(self) -> str:
        return f"units {self.trig_month:%Y-%m} person {self.person_id} {self.state}"


class EntryPersonMonthRollup(PersonWorkDimensions, EntryCounts):
    """``EntryRollup`` summed by effective month and triggered month, person kept."""

    eff_month = models.DateField()
    trig_month = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["eff_month"], name="reports_entrypm_eff")]

    def __str__(self) -> str:
        return f"entries {self.eff_month:%Y-%m} person {self.person_id}"


# --- People by month: the distinct people of each month and team (and domain, for
# units and entries), one set per row, so a report by team, department, cost centre,
# domain or month unites a few hundred small sets instead of one set per monthly
# rollup row. Kept with the monthly rollups, from the daily ones.


class UsagePeopleMonth(PeopleSet):
    """The people with counted token spend per UTC month and team."""

    month = models.DateField()
    team_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["month"], name="reports_usagepeople_month")]

    def __str__(self) -> str:
        return f"usage people {self.month:%Y-%m} team {self.team_id}"


class UnitPeopleMonth(PeopleSet):
    """The people with work units per triggered month, completion month, team and domain."""

    trig_month = models.DateField()
    comp_month = models.DateField()
    team_id = models.BigIntegerField(null=True)
    domain = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["trig_month"], name="reports_unitpeople_trig")]

    def __str__(self) -> str:
        return f"unit people {self.trig_month:%Y-%m} team {self.team_id}"


class EntryPeopleMonth(PeopleSet):
    """The people with AWU entries per effective month, triggered month, team and domain."""

    eff_month = models.DateField()
    trig_month = models.DateField()
    team_id = models.BigIntegerField(null=True)
    domain = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["eff_month"], name="reports_entrypeople_eff")]

    def __str__(self) -> str:
        return f"entry people {self.eff_month:%Y-%m} team {self.team_id}"
