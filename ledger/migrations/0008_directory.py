"""The directory: an org tree of teams, directory ids, and identities and memberships
kept as history.

Identity and Membership rows are never edited: a change retracts the row in force
(``retracted_at``, set once, from NULL) and records its successor. The trigger
below refuses every other UPDATE, and every DELETE except inside an erasure
(``SET LOCAL awu.erasure = 'on'``, awu.ops.erasure), so a report can read the
directory as it was known at any time. Existing rows are dated as known since
they were created (identities) or since they began (memberships).
"""

import django.db.models.deletion
import django.db.models.functions.datetime
import django.db.models.manager
import ledger.clock
from django.db import migrations, models

VERSIONED = ["ledger_identity", "ledger_membership"]

FORWARD = """
CREATE FUNCTION ledger_refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('awu.erasure', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.retracted_at IS NULL AND NEW.retracted_at IS NOT NULL
       AND (to_jsonb(NEW) - 'retracted_at') = (to_jsonb(OLD) - 'retracted_at') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% keeps its history: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Retract the row in force and record its successor (ledger.directory).';
END;
$$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_history BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_history_change();
"""
    for table in VERSIONED
)

BACKWARD = "".join(f"DROP TRIGGER {table}_history ON {table};" for table in VERSIONED) + (
    "DROP FUNCTION ledger_refuse_history_change();"
)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0007_usage_grain'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='identity',
            options={'base_manager_name': 'history', 'default_manager_name': 'objects', 'verbose_name_plural': 'identities'},
        ),
        migrations.AlterModelOptions(
            name='membership',
            options={'base_manager_name': 'history', 'default_manager_name': 'objects'},
        ),
        migrations.AlterModelManagers(
            name='identity',
            managers=[
                ('history', django.db.models.manager.Manager()),
                ('objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.AlterModelManagers(
            name='membership',
            managers=[
                ('history', django.db.models.manager.Manager()),
                ('objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.AddField(
            model_name='identity',
            name='origin',
            field=models.CharField(choices=[('admin', 'Admin'), ('api', 'Api'), ('scim', 'Scim'), ('import', 'Import'), ('system', 'System')], db_default='system', default='admin', editable=False, max_length=10),
        ),
        migrations.AddField(
            model_name='identity',
            name='recorded_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=ledger.clock.now, editable=False),
        ),
        migrations.AddField(
            model_name='identity',
            name='retracted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='membership',
            name='origin',
            field=models.CharField(choices=[('admin', 'Admin'), ('api', 'Api'), ('scim', 'Scim'), ('import', 'Import'), ('system', 'System')], db_default='system', default='admin', editable=False, max_length=10),
        ),
        migrations.AddField(
            model_name='membership',
            name='recorded_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=ledger.clock.now, editable=False),
        ),
        migrations.AddField(
            model_name='membership',
            name='retracted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='person',
            name='active',
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.AddField(
            model_name='person',
            name='cost_centre',
            field=models.CharField(blank=True, db_default='', max_length=100),
        ),
        migrations.AddField(
            model_name='person',
            name='department',
            field=models.CharField(blank=True, db_default='', max_length=200),
        ),
        migrations.AddField(
            model_name='person',
            name='external_id',
            field=models.CharField(blank=True, help_text="The directory's id for this person (SCIM externalId, HR id).", max_length=200, null=True, unique=True),
        ),
        migrations.AddField(
            model_name='person',
            name='manager',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='reports', to='ledger.person'),
        ),
        migrations.AddField(
            model_name='team',
            name='cost_centre',
            field=models.CharField(blank=True, db_default='', max_length=100),
        ),
        migrations.AddField(
            model_name='team',
            name='external_id',
            field=models.CharField(blank=True, help_text="The directory's id for this team (a SCIM group's externalId).", max_length=200, null=True, unique=True),
        ),
        migrations.AddField(
            model_name='team',
            name='parent',
            field=models.ForeignKey(blank=True, help_text='The org tree: a department is a team with no parent.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='children', to='ledger.team'),
        ),
        migrations.AlterField(
            model_name='identity',
            name='value',
            field=models.CharField(max_length=254),
        ),
        migrations.AddIndex(
            model_name='identity',
            index=models.Index(fields=['value', 'recorded_at'], name='identity_value_history'),
        ),
        migrations.AddConstraint(
            model_name='identity',
            constraint=models.UniqueConstraint(condition=models.Q(('retracted_at__isnull', True)), fields=('value',), name='identity_value_in_force'),
        ),
        migrations.RunSQL(
            "UPDATE ledger_identity SET recorded_at = created_at;"
            " UPDATE ledger_membership SET recorded_at = valid_from;",
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
