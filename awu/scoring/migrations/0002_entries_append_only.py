"""AwuEntry is append-only, enforced by PostgreSQL: UPDATE and DELETE raise.

Reports sum entries "as of" a time; a past report stays reproducible only if no
entry ever changes. A reversal is a new, negative entry.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION scoring_refuse_entry_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A change of credit is a new entry, never an edit.';
END;
$$;
CREATE TRIGGER scoring_awuentry_append_only BEFORE UPDATE OR DELETE ON scoring_awuentry
    FOR EACH ROW EXECUTE FUNCTION scoring_refuse_entry_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS scoring_awuentry_append_only ON scoring_awuentry;
DROP FUNCTION IF EXISTS scoring_refuse_entry_change();
"""


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
