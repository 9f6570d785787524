"""Scoring looks events up by ref on every batch. With GIN's default fastupdate,
bulk ingest piles entries into the index's pending list, and every lookup scans
that list in full until a vacuum merges it (measured 25x slower after a bulk
load). Writing straight into the index costs ingest a little and keeps lookups
flat."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only")]

    operations = [
        migrations.RunSQL(
            "ALTER INDEX workevent_ref_keys SET (fastupdate = off);",
            "ALTER INDEX workevent_ref_keys RESET (fastupdate);",
        ),
    ]
