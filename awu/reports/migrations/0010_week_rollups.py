"""Weekly rollups: the daily rollups summed by ISO week, without the person.

A trend by week read the daily rollups: a year for one team summed 365 days of
rows per person (386 ms at 3,000,000 usage rows and 1,000 people). The weekly
rows sum a week per team, model, definition and state, with the week's people as
a set, like the monthly ones; the edge days of a period that does not start and
end on a Monday come from the daily rollups.

An existing install's weekly rows are derived here from its daily rollups (the
statements the refresh runs, as of this release), so the first report after the
upgrade reads complete weeks.
"""

import django.contrib.postgres.fields
from django.db import migrations, models

FROM_DAILY = """
INSERT INTO reports_usageweekrollup (week, team_id, provider, model, source_id, tied,
    records, unpriced, cost_usd, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens, people)
SELECT date_trunc('week', day)::date AS week, team_id, provider, model, source_id, tied,
    sum(records), sum(unpriced), sum(cost_usd), sum(input_tokens), sum(output_tokens),
    sum(cache_creation_input_tokens), sum(cache_read_input_tokens),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{}')
FROM reports_usagerollup
WHERE TRUE
GROUP BY 1, team_id, provider, model, source_id, tied;
INSERT INTO reports_unitweekrollup (trig_week, comp_week, team_id, definition_id, domain,
    state, ai_assisted, maturing, settle_day, unit_count, units_sum, incidents_sum, bugs_sum,
    review_hours_sum, people)
SELECT date_trunc('week', trig_day)::date, date_trunc('week', comp_day)::date, team_id,
    definition_id, domain, state, ai_assisted, maturing, max(settle_day), sum(unit_count),
    sum(units_sum), sum(incidents_sum), sum(bugs_sum), sum(review_hours_sum),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{}')
FROM reports_unitrollup
WHERE TRUE
GROUP BY 1, 2, team_id, definition_id, domain, state, ai_assisted, maturing;
INSERT INTO reports_entryweekrollup (eff_week, trig_week, team_id, definition_id, domain,
    ai_assisted, entry_count, delta_sum, people)
SELECT date_trunc('week', eff_day)::date, date_trunc('week', trig_day)::date, team_id,
    definition_id, domain, ai_assisted, sum(entry_count), sum(delta_sum),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{}')
FROM reports_entryrollup
WHERE TRUE
GROUP BY 1, 2, team_id, definition_id, domain, ai_assisted;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0009_people_by_month'),
    ]

    operations = [
        migrations.CreateModel(
            name='EntryWeekRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('team_id', models.BigIntegerField(null=True)),
                ('definition_id', models.BigIntegerField()),
                ('domain', models.CharField(max_length=40)),
                ('ai_assisted', models.BooleanField(null=True)),
                ('eff_week', models.DateField()),
                ('trig_week', models.DateField()),
                ('entry_count', models.BigIntegerField()),
                ('delta_sum', models.DecimalField(decimal_places=6, max_digits=24)),
                ('people', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), default=list, size=None)),
            ],
            options={
                'indexes': [models.Index(fields=['eff_week'], name='reports_entryweek_eff')],
            },
        ),
        migrations.CreateModel(
            name='UnitWeekRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('team_id', models.BigIntegerField(null=True)),
                ('definition_id', models.BigIntegerField()),
                ('domain', models.CharField(max_length=40)),
                ('ai_assisted', models.BooleanField(null=True)),
                ('maturing', models.BooleanField(default=False)),
                ('settle_day', models.DateField(null=True)),
                ('incidents_sum', models.BigIntegerField(default=0)),
                ('bugs_sum', models.BigIntegerField(default=0)),
                ('review_hours_sum', models.DecimalField(decimal_places=6, default=0, max_digits=24)),
                ('trig_week', models.DateField()),
                ('comp_week', models.DateField()),
                ('state', models.CharField(max_length=10)),
                ('unit_count', models.BigIntegerField()),
                ('units_sum', models.DecimalField(decimal_places=6, max_digits=24)),
                ('people', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), default=list, size=None)),
            ],
            options={
                'indexes': [models.Index(fields=['trig_week'], name='reports_unitweek_trig')],
            },
        ),
        migrations.CreateModel(
            name='UsageWeekRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('team_id', models.BigIntegerField(null=True)),
                ('provider', models.CharField(max_length=60)),
                ('model', models.CharField(max_length=200)),
                ('source_id', models.BigIntegerField()),
                ('tied', models.CharField(max_length=10)),
                ('records', models.BigIntegerField()),
                ('unpriced', models.BigIntegerField()),
                ('cost_usd', models.DecimalField(decimal_places=9, max_digits=24)),
                ('input_tokens', models.BigIntegerField()),
                ('output_tokens', models.BigIntegerField()),
                ('cache_creation_input_tokens', models.BigIntegerField()),
                ('cache_read_input_tokens', models.BigIntegerField()),
                ('week', models.DateField()),
                ('people', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), default=list, size=None)),
            ],
            options={
                'indexes': [models.Index(fields=['week'], name='reports_usageweek_week')],
            },
        ),
        migrations.RunSQL(FROM_DAILY, migrations.RunSQL.noop),
    ]
