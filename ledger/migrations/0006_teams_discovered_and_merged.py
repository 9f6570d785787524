# Teams named by records become discovered teams; existing names found in the
# ledger are made now, so the next rollup refresh reports them under their slug.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0005_erasure_guarded_update'),
    ]

    operations = [
        migrations.AddField(
            model_name='team',
            name='merged_into',
            field=models.ForeignKey(blank=True, help_text='Reports count this team as that one.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='merged', to='ledger.team'),
        ),
        migrations.AddField(
            model_name='team',
            name='status',
            field=models.CharField(choices=[('confirmed', 'Confirmed'), ('discovered', 'Discovered')], db_default='confirmed', default='confirmed', help_text="'discovered': made from a record that named it; not yet confirmed.", max_length=12),
        ),
        migrations.AlterField(
            model_name='team',
            name='slug',
            field=models.CharField(max_length=100, unique=True),
        ),
        migrations.AddConstraint(
            model_name='team',
            constraint=models.CheckConstraint(condition=models.Q(('merged_into', models.F('pk')), _negated=True), name='team_not_merged_into_itself'),
        ),
        # A slug already named by stored records gets its discovered team now (the
        # records themselves are unchanged: they are resolved when read). The
        # distinct names are walked down the (team, occurred_at) indexes, one probe
        # per name, instead of scanning the record tables.
        migrations.RunSQL(
            sql="""
            WITH RECURSIVE
            event_teams AS (
                SELECT min(team) AS slug FROM ledger_workevent WHERE team > ''
                UNION ALL
                SELECT (SELECT min(team) FROM ledger_workevent WHERE team > e.slug)
                FROM event_teams e WHERE e.slug IS NOT NULL
            ),
            usage_teams AS (
                SELECT min(team) AS slug FROM ledger_tokenusage WHERE team > ''
                UNION ALL
                SELECT (SELECT min(team) FROM ledger_tokenusage WHERE team > u.slug)
                FROM usage_teams u WHERE u.slug IS NOT NULL
            )
            INSERT INTO ledger_team (slug, name, domain, status, created_at)
            SELECT slug, slug, '', 'discovered', now()
            FROM (SELECT slug FROM event_teams UNION SELECT slug FROM usage_teams) named
            WHERE slug IS NOT NULL
            ORDER BY slug
            ON CONFLICT (slug) DO NOTHING
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
