"""Token usage reaches the rollups through a queue written by a trigger.

Every insert into ledger_tokenusage also inserts the new ids into
reports_usagequeue, in the same statement and transaction (a statement-level
trigger over the inserted rows, so a COPY or a 1,000-row batch costs one extra
INSERT ... SELECT, not one trigger call per row).

Upgrading: the rollups were built by the earlier id cursor, which cannot say
which recent records it had folded in; the cursors are cleared so the next
refresh rebuilds every rollup from the raw tables once (docs/operations.md).
"""

from django.db import migrations, models

ENQUEUE = """
CREATE OR REPLACE FUNCTION reports_usage_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reports_usagequeue (usage_id) SELECT id FROM inserted;
    RETURN NULL;
END;
$$;
CREATE TRIGGER reports_usage_enqueue AFTER INSERT ON ledger_tokenusage
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION reports_usage_enqueue();
"""

# Work tables of the refresh (awu.reports.rollups): what one refresh took from the
# queue and the sums it adds. Only the refresh holding the rollup lock uses them,
# inside its transaction, clearing them first; unlogged, since nothing in them
# outlives that transaction's purpose. (Temporary tables would do the same at the
# price of catalog churn on every refresh.)
WORK_TABLES = """
CREATE UNLOGGED TABLE reports_usagetaken (usage_id bigint PRIMARY KEY);
CREATE UNLOGGED TABLE reports_usageadded (
    day date NOT NULL, person_id bigint, team_id bigint, provider varchar(60) NOT NULL,
    model varchar(200) NOT NULL, source_id bigint NOT NULL, tied varchar(10) NOT NULL,
    records bigint NOT NULL, unpriced bigint NOT NULL, cost_usd numeric NOT NULL,
    input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,
    cache_creation_input_tokens bigint NOT NULL, cache_read_input_tokens bigint NOT NULL
);
"""

DROP = """
DROP TRIGGER IF EXISTS reports_usage_enqueue ON ledger_tokenusage;
DROP FUNCTION IF EXISTS reports_usage_enqueue();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_month_rollups"),
        ("ledger", "0005_erasure_guarded_update"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageQueue",
            fields=[("usage_id", models.BigIntegerField(primary_key=True, serialize=False))],
        ),
        migrations.RunSQL(ENQUEUE, DROP),
        migrations.RunSQL(
            WORK_TABLES, "DROP TABLE IF EXISTS reports_usagetaken, reports_usageadded;"
        ),
        migrations.RunSQL("DELETE FROM reports_rollupcursor", migrations.RunSQL.noop),
    ]
