"""Unit rollups say which pending units are maturing and when they settle.

The existing rows have neither, so the refresh record goes: the next refresh
rebuilds every rollup from the raw tables once (docs/operations.md, upgrading).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0004_change_queues'),
    ]

    operations = [
        migrations.AddField(
            model_name='unitfact',
            name='maturing',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='unitfact',
            name='settle_day',
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name='unitmonthrollup',
            name='maturing',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='unitmonthrollup',
            name='settle_day',
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name='unitrollup',
            name='maturing',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='unitrollup',
            name='settle_day',
            field=models.DateField(null=True),
        ),
        migrations.RunSQL("DELETE FROM reports_rolluprefresh", migrations.RunSQL.noop),
    ]
