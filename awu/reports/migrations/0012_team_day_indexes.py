"""Daily rollups indexed by team and day: a one-team report reads the days around
its whole weeks or months (and a period with no whole one) from the daily rollups,
a team's share of rows scattered over the whole day range (at 30,000,000 usage
rows, a year's trend by week for one team read 94,000 heap blocks of the daily
unit rollup for 1,250 rows).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0011_maturing_unit_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='entryrollup',
            index=models.Index(fields=['team_id', 'eff_day'], name='reports_entryroll_team'),
        ),
        migrations.AddIndex(
            model_name='unitrollup',
            index=models.Index(fields=['team_id', 'trig_day'], name='reports_unitroll_team'),
        ),
        migrations.AddIndex(
            model_name='usagerollup',
            index=models.Index(fields=['team_id', 'day'], name='reports_usageroll_team'),
        ),
    ]
