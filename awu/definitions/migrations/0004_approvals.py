"""Four eyes on the scoreboard: approval policies per domain and change requests.

A draft of a domain whose policy requires approval is *proposed* (status
``proposed``, its rules frozen by the database trigger redefined here) and
published only when someone outside the owning team approves it; a rescore of
history waits for the same approval. The domains of the shipped definitions get
a policy that requires approval; a domain without a row requires it too
(awu.definitions.approvals.policy_for).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


SHIPPED_DOMAINS = ("engineering", "sales", "legal", "support", "marketing")

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
    IF OLD.status = 'proposed' AND (
        NEW.definition_id IS DISTINCT FROM OLD.definition_id
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.trigger_type IS DISTINCT FROM OLD.trigger_type
        OR NEW.trigger_condition IS DISTINCT FROM OLD.trigger_condition
        OR NEW.requires IS DISTINCT FROM OLD.requires
        OR NEW.survive_days IS DISTINCT FROM OLD.survive_days
        OR NEW.disqualifiers IS DISTINCT FROM OLD.disqualifiers
        OR NEW.units IS DISTINCT FROM OLD.units
        OR NEW.incidents IS DISTINCT FROM OLD.incidents
    ) THEN
        RAISE EXCEPTION 'definition version % is proposed for approval: its rules are frozen', OLD.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Withdraw the proposal to edit it again.';
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


def shipped_domains_require_approval(apps, schema_editor):
    ApprovalPolicy = apps.get_model("definitions", "ApprovalPolicy")
    AuditEvent = apps.get_model("ledger", "AuditEvent")
    for domain in SHIPPED_DOMAINS:
        policy, created = ApprovalPolicy.objects.get_or_create(
            domain=domain, defaults={"required": True, "preview_days": 30}
        )
        if created:
            AuditEvent.objects.create(
                action="approval_policy.changed",
                object_type="approval_policy",
                object_id=str(policy.pk),
                object_label=domain,
                actor_kind="system",
                actor="migration definitions 0004",
                after={"domain": domain, "required": True, "preview_days": 30},
                reason="four eyes on the shipped definitions' domains",
            )


class Migration(migrations.Migration):

    dependencies = [
        ('definitions', '0003_incident_rule_frozen_with_the_rules'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("ledger", "0018_roles_and_key_teams"),
    ]

    operations = [
        migrations.CreateModel(
            name='ApprovalPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('domain', models.CharField(max_length=40, unique=True)),
                ('required', models.BooleanField(default=True, help_text='A draft is proposed and approved by someone outside the owning team before it is published; a rescore of history too.')),
                ('preview_days', models.PositiveIntegerField(default=30, help_text="The proposal's preview: units gained and lost over the last N days.")),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name_plural': 'approval policies',
                'ordering': ['domain'],
            },
        ),
        migrations.CreateModel(
            name='ChangeRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('publish', 'Publish'), ('rescore', 'Rescore')], max_length=10)),
                ('covers_from', models.DateTimeField(blank=True, help_text='A rescore: the earliest trigger it replays.', null=True)),
                ('state', models.CharField(choices=[('proposed', 'Proposed'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('withdrawn', 'Withdrawn')], default='proposed', max_length=10)),
                ('proposed_at', models.DateTimeField()),
                ('note', models.CharField(blank=True, help_text="The proposer's reason.", max_length=500)),
                ('preview_days', models.PositiveIntegerField(default=30)),
                ('preview', models.JSONField(blank=True, default=dict)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('reason', models.TextField(blank=True, help_text="The approver's reason.")),
                ('executed_at', models.DateTimeField(blank=True, help_text='A rescore: when the approved run started.', null=True)),
            ],
            options={
                'ordering': ['-proposed_at', '-id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='definitionversion',
            name='definitionversion_published_dated',
        ),
        migrations.AlterField(
            model_name='definitionversion',
            name='status',
            field=models.CharField(choices=[('draft', 'Draft'), ('proposed', 'Proposed'), ('published', 'Published')], default='draft', max_length=10),
        ),
        migrations.AddConstraint(
            model_name='definitionversion',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['draft', 'proposed']), models.Q(('covers_from__isnull', False), ('published_at__isnull', False)), _connector='OR'), name='definitionversion_published_dated'),
        ),
        migrations.AddConstraint(
            model_name='approvalpolicy',
            constraint=models.CheckConstraint(condition=models.Q(('preview_days__gte', 1), ('preview_days__lte', 3650)), name='approvalpolicy_preview_days_range'),
        ),
        migrations.AddField(
            model_name='changerequest',
            name='decided_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='changerequest',
            name='definition',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='definitions.definition'),
        ),
        migrations.AddField(
            model_name='changerequest',
            name='proposed_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='changerequest',
            name='version',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='definitions.definitionversion'),
        ),
        migrations.AddIndex(
            model_name='changerequest',
            index=models.Index(fields=['state', 'definition'], name='changerequest_state'),
        ),
        migrations.AddConstraint(
            model_name='changerequest',
            constraint=models.UniqueConstraint(condition=models.Q(('state', 'proposed')), fields=('version', 'kind'), name='changerequest_one_open_per_version'),
        ),
        migrations.AddConstraint(
            model_name='changerequest',
            constraint=models.CheckConstraint(condition=models.Q(('state', 'proposed'), models.Q(('decided_at__isnull', False), ('decided_by__isnull', False)), _connector='OR'), name='changerequest_decided_dated'),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(shipped_domains_require_approval, migrations.RunPython.noop),
    ]
