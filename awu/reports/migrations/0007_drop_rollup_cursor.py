"""Drop ``reports_rollupcursor``, emptied and unused since 0004.

It was kept one release so that processes of the code before 0004, which read
it, kept answering during that upgrade. The release before this one already
ran without it (the upgrade test starts from it), so nothing reads it now.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("reports", "0006_quality_measures")]

    operations = [
        migrations.RunSQL(
            "DROP TABLE IF EXISTS reports_rollupcursor",
            # Backwards: the empty table as 0001 made it, for 0004 to empty again.
            """CREATE TABLE IF NOT EXISTS reports_rollupcursor (
                "table" varchar(60) PRIMARY KEY, safe_id bigint NOT NULL,
                candidate_id bigint NULL, candidate_xmax bigint NULL,
                refreshed_at timestamp with time zone NULL)""",
        ),
    ]
