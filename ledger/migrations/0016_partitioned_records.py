"""WorkEvent and TokenUsage become range-partitioned by month on ``occurred_at``.

A new install gets empty partitioned tables here. An existing one is converted in
place, in this migration's transaction (ledger.partition_convert): fine for a
small install; above a few million rows the migration refuses and asks for
``manage.py partition_ledger``, which converts online while the service runs,
after which this migration finds the tables partitioned and does nothing
(docs/scaling.md). Every trigger on the tables (append-only, erasure, report
queues) is carried over onto the partitioned parents.

Not reversible: going back to one heap is the same copy in the other direction.
"""

from typing import Any

from django.db import migrations

from ledger.partition_convert import convert_in_place
from ledger.partitions import RECORD_TABLES


def forward(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        for table in RECORD_TABLES:
            convert_in_place(cursor, table)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0015_costadjustment_usage_plain_id")]

    operations = [migrations.RunPython(forward)]
