"""Append-only, enforced by PostgreSQL: UPDATE and DELETE on the ledger's record
tables raise, whoever runs them (the application, the admin, a psql session).

TRUNCATE is a table-owner operation (migrations, test set-up); in production the
application connects as a role that does not own the tables and has no TRUNCATE
privilege (docs/operations.md).

Erasure of a person's identity data is an explicit, audited procedure
(docs/operations.md, awu.ops.erasure) that may rewrite ``actor`` and
``attributes`` of WorkEvent and TokenUsage through a guarded path (migration
0005), never any other column, never a DELETE.
"""

from django.db import migrations

TABLES = ["ledger_workevent", "ledger_tokenusage", "ledger_costadjustment", "ledger_eventkey", "ledger_usagekey"]

FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Corrections are new records (adjustments), never edits.';
END;
$$;
"""


def _triggers(table: str) -> str:
    return f"""
    CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    """


def _drop(table: str) -> str:
    return f"""
    DROP TRIGGER IF EXISTS {table}_append_only ON {table};
    """


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(
            FUNCTION + "".join(_triggers(t) for t in TABLES),
            "".join(_drop(t) for t in TABLES) + "DROP FUNCTION IF EXISTS ledger_refuse_change();",
        ),
    ]
