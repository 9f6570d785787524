"""Session links: the commits each session made, in a small table of their own.

Spend reaches work through its sessions (``ledger.spend``): a usage record's
session made commits, named by ``x.session.commit`` events. Looked up in the
events, each usage record with a session probed the ``ref_keys`` index of every
monthly partition of ``ledger_workevent`` (nothing in the lookup names a month);
a full rollup build at 3,000,000 usage rows, 30% of them with a session, was on
course for 90 minutes. The links table answers it with one index probe per session.

A row trigger on ``ledger_workevent``, fired only by ``x.session.commit`` events,
writes one link per (event, session, commit) in the event's own statement,
whichever path writes it (the API, OTLP, webhooks, imports, COPY). The links of
the events already stored are written here, in one pass over them. Like the
events, the links are append-only (the ledger's guard refuses UPDATE and DELETE).
"""

from django.db import migrations, models

LINKS_OF = """
SELECT e.id, e.received_at, s.k, 'commit:' || c.value
FROM {rows} e
CROSS JOIN LATERAL unnest(e.ref_keys) AS s(k)
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(e.refs->'commit') = 'array' THEN e.refs->'commit' ELSE '[]'::jsonb END
) AS c(value)
WHERE e.type = 'x.session.commit' AND s.k LIKE 'session:%'
"""

FORWARD = f"""
CREATE FUNCTION ledger_session_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_sessionlink (event_id, received_at, session_key, commit_key)
    {LINKS_OF.format(rows="(SELECT NEW.*)")};
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_session_link AFTER INSERT ON ledger_workevent
    FOR EACH ROW WHEN (NEW.type = 'x.session.commit')
    EXECUTE FUNCTION ledger_session_link();

CREATE TRIGGER ledger_sessionlink_append_only BEFORE UPDATE OR DELETE ON ledger_sessionlink
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

INSERT INTO ledger_sessionlink (event_id, received_at, session_key, commit_key)
{LINKS_OF.format(rows="ledger_workevent")};
"""

BACKWARD = """
DROP TRIGGER IF EXISTS ledger_sessionlink_append_only ON ledger_sessionlink;
DROP TRIGGER IF EXISTS ledger_session_link ON ledger_workevent;
DROP FUNCTION IF EXISTS ledger_session_link();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0019_outbox_one_row_per_write")]

    operations = [
        migrations.CreateModel(
            name="SessionLink",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event_id", models.BigIntegerField()),
                ("received_at", models.DateTimeField()),
                ("session_key", models.TextField(help_text="'session:<id>', as in ref_keys.")),
                ("commit_key", models.TextField(help_text="'commit:<sha>', as in ref_keys.")),
            ],
            options={
                "indexes": [
                    models.Index(fields=["session_key"], name="sessionlink_session"),
                    models.Index(fields=["commit_key"], name="sessionlink_commit"),
                ],
            },
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
