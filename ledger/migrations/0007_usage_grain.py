# Token usage says at ingest whether it is one request or a summary of requests
# (ledger.spend). Adding the column with a constant default rewrites nothing.
# Records stored before it existed that are summaries (Claude Code's metrics,
# attributes.derived_from = "metrics") are marked so here: a one-time fill of the
# new column, the only write the append-only trigger is lifted for, in this
# migration's transaction.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0006_teams_discovered_and_merged'),
    ]

    operations = [
        migrations.AddField(
            model_name='tokenusage',
            name='grain',
            field=models.CharField(choices=[('request', 'Request'), ('summary', 'Summary')], db_default='request', default='request', help_text="'summary': a sum of requests the same source may also report one by one (ledger.spend decides which counts).", max_length=10),
        ),
        migrations.RunSQL(
            sql="""
            ALTER TABLE ledger_tokenusage DISABLE TRIGGER ledger_tokenusage_append_only;
            UPDATE ledger_tokenusage SET grain = 'summary'
            WHERE attributes->>'derived_from' = 'metrics';
            ALTER TABLE ledger_tokenusage ENABLE TRIGGER ledger_tokenusage_append_only;
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
