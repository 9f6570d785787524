"""Service name mappings, and the indexes that find a service's deploys and
incidents in a time span (deploy-window attribution).

Expression indexes on the ``service`` and ``service_id`` attributes, partial
(most events name no service). Built CONCURRENTLY so an existing ledger keeps
taking writes meanwhile; hence a non-atomic migration.
"""

import django.db.models.deletion
from django.db import migrations, models


# One statement per operation: several in one string run as one transaction block,
# where CREATE INDEX CONCURRENTLY is refused.
SERVICE_INDEXES = [
    (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS workevent_{name}_time"
        f" ON ledger_workevent ((attributes->>'{name}'), occurred_at)"
        f" WHERE (attributes->>'{name}') IS NOT NULL",
        f"DROP INDEX CONCURRENTLY IF EXISTS workevent_{name}_time",
    )
    for name in ("service", "service_id")
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('ledger', '0013_directory_provisioning'),
    ]

    operations = [
        migrations.CreateModel(
            name='ServiceName',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('external_name', models.CharField(help_text='the service id or name as this source sends it', max_length=200)),
                ('service', models.CharField(help_text='the service as deploys name it', max_length=200)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('source', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='service_names', to='ledger.source')),
            ],
            options={
                'indexes': [models.Index(fields=['service'], name='servicename_service')],
                'constraints': [models.UniqueConstraint(fields=('source', 'external_name'), name='servicename_source_external')],
            },
        ),
        *(migrations.RunSQL(create, drop) for create, drop in SERVICE_INDEXES),
    ]
