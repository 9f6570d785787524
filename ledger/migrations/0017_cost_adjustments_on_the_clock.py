"""Cost adjustments take their time from the one clock (ledger.clock), as every
record "as of" reports compare with does."""

import django.db.models.functions.datetime
import ledger.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0016_partitioned_records'),
    ]

    operations = [
        migrations.AlterField(
            model_name='costadjustment',
            name='created_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=ledger.clock.now, editable=False),
        ),
    ]
