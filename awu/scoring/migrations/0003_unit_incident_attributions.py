"""The incidents attributed to each unit, and an index to find units by incident."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('definitions', '0003_incident_rule_frozen_with_the_rules'),
        ('ledger', '0014_service_names_and_service_indexes'),
        ('scoring', '0002_entries_append_only'),
    ]

    operations = [
        migrations.AddField(
            model_name='workunit',
            name='attributions',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='workunit',
            name='incident_keys',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=300), blank=True, default=list, size=None),
        ),
        migrations.AddIndex(
            model_name='workunit',
            index=django.contrib.postgres.indexes.GinIndex(condition=models.Q(('incident_keys__len__gt', 0)), fields=['incident_keys'], name='workunit_incident_keys'),
        ),
    ]
