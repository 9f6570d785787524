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
        migrations.RunSQL("DELETE FROM reports_rollupcursor", migrations.RunSQL.noop),
    ]
