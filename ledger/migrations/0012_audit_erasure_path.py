"""The audited erasure of a person (awu.ops.erasure) may reach the audit trail too.

The trigger of ``ledger_auditevent`` (migration 0008) now names the columns an
erasure may rewrite: ``actor``, ``object_label``, ``before`` and ``after``. As for
the ledger's records (migration 0005), an UPDATE passes only inside a
transaction that set ``awu.erasure = 'on'``, only when every other column is
unchanged, and only when a changed ``actor`` or ``object_label`` becomes a
pseudonym (``erased-...``). DELETE is refused always; so is any other UPDATE.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER ledger_auditevent_append_only ON ledger_auditevent;
CREATE TRIGGER ledger_auditevent_append_only BEFORE UPDATE OR DELETE ON ledger_auditevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('actor', 'object_label', 'before', 'after');
"""

BACKWARD = """
DROP TRIGGER ledger_auditevent_append_only ON ledger_auditevent;
CREATE TRIGGER ledger_auditevent_append_only BEFORE UPDATE OR DELETE ON ledger_auditevent
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0011_priced_entries_frozen")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
