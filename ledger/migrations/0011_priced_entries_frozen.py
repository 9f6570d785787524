"""A price book entry that has priced usage is frozen, enforced by PostgreSQL.

Once a TokenUsage or a CostAdjustment names an entry, an UPDATE may change only
its ``note``, ``source_url`` and ``updated_at``, and set ``effective_to`` once,
from NULL, when a newer entry takes over (ledger.pricing.entries). Its rates,
provider, model, match and start are refused, and so is a DELETE, whoever runs
them. Columns are compared as whole rows less the allowed ones, so a rate column
added later is frozen without touching this. A correction is a new entry plus a
reprice, which appends adjustments (docs/pricing.md).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION ledger_price_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['effective_to', 'note', 'source_url', 'updated_at'];
BEGIN
    IF NOT (EXISTS (SELECT 1 FROM ledger_tokenusage WHERE price_id = OLD.id)
            OR EXISTS (SELECT 1 FROM ledger_costadjustment WHERE price_id = OLD.id)) THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'price entry % has priced usage: DELETE refused', OLD.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'End it and add a new entry, then reprice.';
    END IF;
    IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
        RAISE EXCEPTION 'price entry % has priced usage: its rates, match and start are frozen',
            OLD.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Correct it with a new entry from the instant it was wrong, then reprice.';
    END IF;
    IF OLD.effective_to IS NOT NULL AND NEW.effective_to IS DISTINCT FROM OLD.effective_to THEN
        RAISE EXCEPTION 'price entry % has priced usage: its end is set already', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_modelprice_frozen BEFORE UPDATE OR DELETE ON ledger_modelprice
    FOR EACH ROW EXECUTE FUNCTION ledger_price_frozen();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS ledger_modelprice_frozen ON ledger_modelprice;
DROP FUNCTION IF EXISTS ledger_price_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0010_audit_events")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
