"""A published version's rules are frozen, enforced by PostgreSQL.

Scoring caches compiled versions by id in every worker process, and past units
and entries point at a version: changing its rules in place would make both
lie. A change is a new draft, published in turn. Publishing a draft (status,
published_at, covers_from) and editing a draft stay allowed; deleting a
published version is refused too.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION definitions_refuse_published_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'published' THEN
            RAISE EXCEPTION 'definition version % is published: DELETE refused', OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'published' AND (
        NEW.status IS DISTINCT FROM OLD.status
        OR NEW.definition_id IS DISTINCT FROM OLD.definition_id
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.trigger_type IS DISTINCT FROM OLD.trigger_type
        OR NEW.trigger_condition IS DISTINCT FROM OLD.trigger_condition
        OR NEW.requires IS DISTINCT FROM OLD.requires
        OR NEW.survive_days IS DISTINCT FROM OLD.survive_days
        OR NEW.disqualifiers IS DISTINCT FROM OLD.disqualifiers
        OR NEW.units IS DISTINCT FROM OLD.units
        OR NEW.covers_from IS DISTINCT FROM OLD.covers_from
        OR NEW.published_at IS DISTINCT FROM OLD.published_at
    ) THEN
        RAISE EXCEPTION 'definition version % is published and frozen: UPDATE refused', OLD.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Create a new draft from it and publish that.';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER definitions_definitionversion_frozen
    BEFORE UPDATE OR DELETE ON definitions_definitionversion
    FOR EACH ROW EXECUTE FUNCTION definitions_refuse_published_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS definitions_definitionversion_frozen ON definitions_definitionversion;
DROP FUNCTION IF EXISTS definitions_refuse_published_change();
"""


class Migration(migrations.Migration):
    dependencies = [("definitions", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
