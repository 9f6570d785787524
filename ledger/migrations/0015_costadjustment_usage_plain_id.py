"""CostAdjustment.usage becomes a plain id: the usage table is about to be
partitioned by month, its primary key becomes (id, occurred_at), and a foreign key
would have to name both columns. The column (``usage_id``) and its index stay as
they are; only the constraint goes."""

from django.db import migrations, models

DROP_FOREIGN_KEY = """
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'ledger_costadjustment'::regclass AND contype = 'f'
          AND confrelid = 'ledger_tokenusage'::regclass
    LOOP
        EXECUTE format('ALTER TABLE ledger_costadjustment DROP CONSTRAINT %I', name);
    END LOOP;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0014_service_names_and_service_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="costadjustment", name="usage"),
                migrations.AddField(
                    model_name="costadjustment",
                    name="usage_id",
                    field=models.BigIntegerField(db_index=True, default=0),
                    preserve_default=False,
                ),
            ],
            database_operations=[migrations.RunSQL(DROP_FOREIGN_KEY, migrations.RunSQL.noop)],
        ),
    ]
