"""The idempotency key tables keep one index each: the primary key (source,
external_id). The surrogate id, the unique index on the record id and the
separate index on source were never read, and each cost a write per record."""

import django.db.models.deletion
from django.db import migrations, models

SQL = """
ALTER TABLE ledger_{table} DROP CONSTRAINT {table}_unique;
ALTER TABLE ledger_{table} DROP CONSTRAINT ledger_{table}_pkey;
ALTER TABLE ledger_{table} DROP COLUMN id;
ALTER TABLE ledger_{table} DROP CONSTRAINT IF EXISTS ledger_{table}_{column}_key;
ALTER TABLE ledger_{table} ADD PRIMARY KEY (source_id, external_id);
"""


def _drop_source_index(table: str) -> str:
    # The automatic index on the source foreign key has a generated name.
    return f"""
DO $$
DECLARE name text;
BEGIN
    FOR name IN SELECT indexname FROM pg_indexes
                WHERE tablename = 'ledger_{table}' AND indexname LIKE 'ledger_{table}_source_id_%'
    LOOP
        EXECUTE format('DROP INDEX %I', name);
    END LOOP;
END $$;
"""


def _key_model(name: str, column: str) -> migrations.CreateModel:
    return migrations.CreateModel(
        name=name,
        fields=[
            ("pk", models.CompositePrimaryKey("source", "external_id", blank=True, editable=False, primary_key=True, serialize=False)),
            ("source", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ledger.source")),
            ("external_id", models.CharField(max_length=200)),
            ("digest", models.BinaryField(max_length=32)),
            (column, models.BigIntegerField()),
        ],
    )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_ref_keys_gin_fastupdate_off")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    SQL.format(table="eventkey", column="event_id")
                    + SQL.format(table="usagekey", column="usage_id")
                    + _drop_source_index("eventkey")
                    + _drop_source_index("usagekey")
                    + _drop_source_index("workevent")
                    + _drop_source_index("tokenusage"),
                    migrations.RunSQL.noop,
                )
            ],
            state_operations=[
                migrations.DeleteModel(name="EventKey"),
                migrations.DeleteModel(name="UsageKey"),
                _key_model("EventKey", "event_id"),
                _key_model("UsageKey", "usage_id"),
                migrations.AlterField(
                    model_name="workevent",
                    name="source",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ledger.source"),
                ),
                migrations.AlterField(
                    model_name="tokenusage",
                    name="source",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ledger.source"),
                ),
            ],
        ),
    ]
