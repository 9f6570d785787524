"""A guarded path through the append-only triggers, for erasing a person's identity.

Still refused, always: DELETE on every ledger table, and any UPDATE of
CostAdjustment, EventKey and UsageKey. An UPDATE of WorkEvent or TokenUsage
passes only when

* the transaction has set ``SET LOCAL awu.erasure = 'on'`` (awu.ops.erasure does,
  in the one transaction that erases a person), and
* every column other than ``actor`` and ``attributes`` is unchanged (compared
  as whole rows, so a column added later is covered without touching this), and
* a changed ``actor`` is a pseudonym (``erased-...``): the path can hide who did
  the work, never move the work to somebody else.

Counts, costs, times and refs cannot change through it, so every report total
stays what it was.
"""

from django.db import migrations

ERASABLE = ["ledger_workevent", "ledger_tokenusage"]

FORWARD = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    column_name text;
BEGIN
    -- TG_ARGV names the columns an erasure may rewrite (none for most tables).
    IF TG_OP = 'UPDATE' AND TG_NARGS > 0
       AND current_setting('awu.erasure', true) = 'on'
       AND (to_jsonb(NEW) - TG_ARGV) = (to_jsonb(OLD) - TG_ARGV) THEN
        FOREACH column_name IN ARRAY TG_ARGV LOOP
            IF jsonb_typeof(to_jsonb(NEW) -> column_name) = 'string'
               AND (to_jsonb(NEW) -> column_name) IS DISTINCT FROM (to_jsonb(OLD) -> column_name)
               AND (to_jsonb(NEW) ->> column_name) NOT LIKE 'erased-%' THEN
                RAISE EXCEPTION 'erasure of % may only replace % with a pseudonym',
                    TG_TABLE_NAME, column_name
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Corrections are new records (adjustments), never edits.';
END;
$$;
""" + "".join(
    f"""
DROP TRIGGER {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('actor', 'attributes');
"""
    for table in ERASABLE
)

# Back to migration 0002: no argument, no exception.
BACKWARD = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Corrections are new records (adjustments), never edits.';
END;
$$;
""" + "".join(
    f"""
DROP TRIGGER {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""
    for table in ERASABLE
)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_idempotency_keys_one_index")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
