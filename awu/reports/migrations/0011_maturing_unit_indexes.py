"""Partial indexes on the unit rollups' maturing rows (units inside their survival
window). The projection of a report (``awu.reports.maturity``) reads only those:
over a year by person it scanned all 123,726 person monthly unit rows for the few
weeks' worth that mature.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0010_week_rollups'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='unitmonthrollup',
            index=models.Index(condition=models.Q(('maturing', True)), fields=['trig_month'], name='reports_unitmonth_maturing'),
        ),
        migrations.AddIndex(
            model_name='unitpersonmonthrollup',
            index=models.Index(condition=models.Q(('maturing', True)), fields=['trig_month'], name='reports_unitpm_maturing'),
        ),
        migrations.AddIndex(
            model_name='unitrollup',
            index=models.Index(condition=models.Q(('maturing', True)), fields=['trig_day'], name='reports_unitroll_maturing'),
        ),
        migrations.AddIndex(
            model_name='unitweekrollup',
            index=models.Index(condition=models.Q(('maturing', True)), fields=['trig_week'], name='reports_unitweek_maturing'),
        ),
    ]
