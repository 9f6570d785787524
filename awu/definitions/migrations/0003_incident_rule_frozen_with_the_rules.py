"""A version's incident rule is one of its rules: frozen once published, like the rest.

The database trigger of 0002 is redefined to refuse changes to ``incidents`` too.
"""

from django.db import migrations, models

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
        OR NEW.incidents IS DISTINCT FROM OLD.incidents
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
"""

BACKWARD = """
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
"""


class Migration(migrations.Migration):
    dependencies = [("definitions", "0002_published_versions_frozen")]

    operations = [
        migrations.AddField(
            model_name="definitionversion",
            name="incidents",
            field=models.JSONField(
                blank=True,
                default=None,
                help_text='Incident attribution, e.g. {"window_hours": 24, "voids": "sole"}; '
                "empty: none. voids: none, explicit, sole (explicit, and deploy-window when the "
                "deploy held one change) or all. window_hours: more than 0, at most 720.",
                null=True,
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
