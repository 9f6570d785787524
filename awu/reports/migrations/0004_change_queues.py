"""Every input of the rollups reaches them through a queue written by a trigger.

As token usage does since 0003: a statement-level trigger over the rows a
statement wrote (its transition table) appends their keys to a queue in the same
transaction, so a batch of a thousand rows costs one extra INSERT ... SELECT.
Events are the exception (see EVENT_QUEUE): only session commits are queued, by a
row trigger with a WHEN clause.

One small table per input, because each holds a different key (entry, event,
adjustment and unit ids, identity values, person ids) and the refresh turns each
into days by its own query: no kind column to dispatch on, no mixed key types.
The tables have no index and no primary key: a queue write is a plain heap
append (2,000 ids in 2.8 ms, against 9 ms with a serial key and 13 ms with the
id as primary key), it never waits for a refresh deleting the same key, and the
refresh always takes a whole queue. A key queued twice (a unit updated in two
batches) is recomputed once. No Django models: nothing reads them but the refresh.

What is queued: new AWU entries, new ``x.session.commit`` events, new cost
adjustments, work units inserted or updated, identity values written or deleted
(old and new), the people of memberships written or deleted (old and new).

The id cursors go: the refresh keeps only when it last ran
(``reports_rolluprefresh``). With no such record the next refresh rebuilds every
rollup from the raw tables once (docs/operations.md, upgrading). The old table
``reports_rollupcursor`` is emptied and left in place, unused, so processes still
on the previous code keep answering reports until they restart; the next release
drops it.
"""

from django.db import migrations, models

# (queue, its column, the table written, the column queued, the statements queued)
QUEUES = [
    ("reports_entryqueue", "entry_id bigint", "scoring_awuentry", "id", "INSERT"),
    ("reports_adjustmentqueue", "adjustment_id bigint", "ledger_costadjustment", "id", "INSERT"),
    ("reports_unitqueue", "unit_id bigint", "scoring_workunit", "id", "INSERT UPDATE"),
    ("reports_identityqueue", "value varchar(254)", "ledger_identity", "value", "INSERT UPDATE DELETE"),
    ("reports_membershipqueue", "person_id bigint", "ledger_membership", "person_id", "INSERT UPDATE DELETE"),
]
# The only events that change a rollup tie a session's usage to work. They are a
# few among millions, so their queue is written by a row trigger whose WHEN clause
# PostgreSQL checks as each row is inserted: an ordinary event costs that check and
# nothing else (a statement trigger would first collect every inserted event,
# JSON and all, into its transition table).
EVENT_QUEUE = """
CREATE TABLE reports_eventqueue (event_id bigint NOT NULL);
CREATE FUNCTION reports_event_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reports_eventqueue (event_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER reports_event_enqueue_insert AFTER INSERT ON ledger_workevent
    FOR EACH ROW WHEN (NEW.type = 'x.session.commit')
    EXECUTE FUNCTION reports_event_enqueue();
"""


def _forward(queue: str, column: str, table: str, key: str, statements: str) -> str:
    name = queue.removeprefix("reports_").removesuffix("queue")
    target = column.split()[0]
    new = f"INSERT INTO {queue} ({target}) SELECT {key} FROM new_rows;"
    old = f"INSERT INTO {queue} ({target}) SELECT {key} FROM old_rows;"
    # Where rows can be deleted, the key can change too: the old rows' keys are queued as well.
    keyed_old = "DELETE" in statements
    body = f"IF TG_OP <> 'DELETE' THEN {new} END IF; IF TG_OP <> 'INSERT' THEN {old} END IF;"
    sql = f"""
    CREATE TABLE {queue} ({column} NOT NULL);
    CREATE FUNCTION reports_{name}_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body if keyed_old else new}
        RETURN NULL;
    END;
    $$;
    """
    # A trigger with transition tables fires on one kind of statement only.
    rows = {
        "INSERT": "NEW TABLE AS new_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows" if keyed_old else "NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
    }
    for statement in statements.split():
        sql += f"""
    CREATE TRIGGER reports_{name}_enqueue_{statement.lower()} AFTER {statement} ON {table}
        REFERENCING {rows[statement]} FOR EACH STATEMENT EXECUTE FUNCTION reports_{name}_enqueue();
    """
    return sql


def _backward(queue: str, column: str, table: str, key: str, statements: str) -> str:
    name = queue.removeprefix("reports_").removesuffix("queue")
    sql = "".join(
        f"DROP TRIGGER IF EXISTS reports_{name}_enqueue_{s.lower()} ON {table};"
        for s in statements.split()
    )
    return sql + f"DROP FUNCTION IF EXISTS reports_{name}_enqueue(); DROP TABLE IF EXISTS {queue};"


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_usage_queue"),
        ("scoring", "0002_entries_append_only"),
        ("ledger", "0005_erasure_guarded_update"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="RollupCursor")],
            database_operations=[
                migrations.RunSQL("DELETE FROM reports_rollupcursor", migrations.RunSQL.noop)
            ],
        ),
        migrations.CreateModel(
            name="RollupRefresh",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("refreshed_at", models.DateTimeField()),
            ],
        ),
        *(migrations.RunSQL(_forward(*q), _backward(*q)) for q in QUEUES),
        migrations.RunSQL(
            EVENT_QUEUE,
            "DROP TRIGGER IF EXISTS reports_event_enqueue_insert ON ledger_workevent;"
            " DROP FUNCTION IF EXISTS reports_event_enqueue(); DROP TABLE IF EXISTS reports_eventqueue;",
        ),
    ]
