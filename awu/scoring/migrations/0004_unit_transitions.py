"""Unit state history: every change of a unit's state, units, completion or refs
is appended to scoring_unittransition by a statement trigger, so "as of" reports
read a unit as it stood then, whichever path wrote it.

Units scored before this migration get their history as far as it is known: the
pending state from their creation when they settled later, and their current
state from their last update (what "as of" reports showed until now).
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models


FORWARD = """
CREATE FUNCTION scoring_unit_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO scoring_unittransition (unit_id, state, units, completed_at, ref_keys, created_at)
        SELECT id, state, units, completed_at, ref_keys, updated_at FROM new_rows;
    ELSE
        INSERT INTO scoring_unittransition (unit_id, state, units, completed_at, ref_keys, created_at)
        SELECT n.id, n.state, n.units, n.completed_at, n.ref_keys, n.updated_at
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.state, n.units, n.completed_at, n.ref_keys)
              IS DISTINCT FROM (o.state, o.units, o.completed_at, o.ref_keys);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER scoring_unit_transition_insert AFTER INSERT ON scoring_workunit
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION scoring_unit_transition();
CREATE TRIGGER scoring_unit_transition_update AFTER UPDATE ON scoring_workunit
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scoring_unit_transition();
CREATE TRIGGER scoring_unittransition_append_only BEFORE UPDATE OR DELETE ON scoring_unittransition
    FOR EACH ROW EXECUTE FUNCTION scoring_refuse_entry_change();
INSERT INTO scoring_unittransition (unit_id, state, units, completed_at, ref_keys, created_at)
SELECT id, 'pending', units, NULL, ref_keys, created_at FROM scoring_workunit
WHERE updated_at > created_at AND state <> 'pending'
UNION ALL
SELECT id, state, units, completed_at, ref_keys, updated_at FROM scoring_workunit;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS scoring_unit_transition_insert ON scoring_workunit;
DROP TRIGGER IF EXISTS scoring_unit_transition_update ON scoring_workunit;
DROP FUNCTION IF EXISTS scoring_unit_transition();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0003_unit_incident_attributions'),
    ]

    operations = [
        migrations.CreateModel(
            name='UnitTransition',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('completed', 'Completed'), ('voided', 'Voided'), ('expired', 'Expired')], max_length=10)),
                ('units', models.DecimalField(decimal_places=6, max_digits=20)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('ref_keys', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=300), default=list, size=None)),
                ('created_at', models.DateTimeField()),
                ('unit', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='transitions', to='scoring.workunit')),
            ],
            options={
                'indexes': [models.Index(fields=['unit', 'created_at'], name='unittransition_unit_time')],
            },
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
