"""Quality measures in the unit rollups, and the queue of the events they read.

Unit facts carry each completed unit's incidents, bugs and review hours
(awu.reports.quality), the unit rollups their sums. The events those read are
queued by a row trigger with a WHEN clause, as session commits are (0004): an
ordinary event costs the check and nothing else; a refresh re-rolls the facts of
the units a queued event's refs reach. The rollups are rebuilt once (the refresh
marker is cleared) so the measures cover the past.
"""

from django.db import migrations, models


# The types of awu.reports.quality.EVENT_TYPES, as they were when this was written.
# The WHEN clause is written as PostgreSQL prints it back, so a dump and restore
# recreates the same definition (the restore drill compares them).
QUALITY_TYPES = ("incident.attributed", "issue.bug_reported", "code.review.requested", "code.review.submitted")
QUALITY_QUEUE = f"""
CREATE TABLE reports_qualityqueue (event_id bigint NOT NULL);
CREATE FUNCTION reports_quality_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reports_qualityqueue (event_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER reports_quality_enqueue_insert AFTER INSERT ON ledger_workevent
    FOR EACH ROW WHEN ((NEW.type)::text = ANY (ARRAY[{", ".join(f"'{t}'::text" for t in QUALITY_TYPES)}]))
    EXECUTE FUNCTION reports_quality_enqueue();
DELETE FROM reports_rolluprefresh;
"""
QUALITY_QUEUE_DROP = """
DROP TRIGGER IF EXISTS reports_quality_enqueue_insert ON ledger_workevent;
DROP FUNCTION IF EXISTS reports_quality_enqueue();
DROP TABLE IF EXISTS reports_qualityqueue;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0005_unit_maturity'),
        ('ledger', '0016_partitioned_records'),
    ]

    operations = [
        migrations.AddField(
            model_name='unitfact',
            name='bugs',
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name='unitfact',
            name='incidents',
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name='unitfact',
            name='review_hours',
            field=models.DecimalField(decimal_places=6, default=0, max_digits=20),
        ),
        migrations.AddField(
            model_name='unitmonthrollup',
            name='bugs_sum',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='unitmonthrollup',
            name='incidents_sum',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='unitmonthrollup',
            name='review_hours_sum',
            field=models.DecimalField(decimal_places=6, default=0, max_digits=24),
        ),
        migrations.AddField(
            model_name='unitrollup',
            name='bugs_sum',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='unitrollup',
            name='incidents_sum',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='unitrollup',
            name='review_hours_sum',
            field=models.DecimalField(decimal_places=6, default=0, max_digits=24),
        ),
        migrations.RunSQL(QUALITY_QUEUE, QUALITY_QUEUE_DROP),
    ]
