"""Every input of the rollups reaches them through a queue written by a trigger.

As token usage does since 0003: a statement-level trigger over the rows a
statement wrote (its transition table) appends their keys to a queue in the same
transaction, so a batch of a thousand rows costs one extra INSERT ... SELECT.

One small table per input, because each holds a different key (entry, event,
adjustment and unit ids, identity values, person ids) and the refresh turns each
into days by its own query: no kind column to dispatch on, no mixed key types.
The tables have no index and no primary key: a queue write is a plain heap
append (2,000 ids: 2.8 ms, against 13 ms with a primary key), it never waits on
a refresh deleting the same key, and the refresh always takes a whole queue.
A key queued twice (a unit updated in two batches) is recomputed once.

What is queued: new AWU entries, new ``x.session.commit`` events, new cost
adjustments, work units inserted or updated, identity values written or deleted
(old and new), the people of memberships written or deleted (old and new).

The id cursors go, and with them ``reports_rollupcursor``: the refresh keeps only
when it last ran. With no such record the next refresh rebuilds every rollup from
the raw tables once (docs/operations.md, upgrading).
"""

from django.db import migrations, models

# (queue, its column, the table written, the column queued, statements, which rows)
QUEUES = [
    ("reports_entryqueue", "entry_id bigint", "scoring_awuentry", "id", ["INSERT"], ""),
    (
        "reports_eventqueue",
        "event_id bigint",
        "ledger_workevent",
        "id",
        ["INSERT"],
        # The only events that change a rollup: they tie a session's usage to work.
        "WHERE type = 'x.session.commit'",
    ),
    ("reports_adjustmentqueue", "adjustment_id bigint", "ledger_costadjustment", "id", ["INSERT"], ""),
    ("reports_unitqueue", "unit_id bigint", "scoring_workunit", "id", ["INSERT", "UPDATE"], ""),
    (
        "reports_identityqueue",
        "value varchar(254)",
        "ledger_identity",
        "value",
        ["INSERT", "UPDATE", "DELETE"],
        "",
    ),
    (
        "reports_membershipqueue",
        "person_id bigint",
        "ledger_membership",
        "person_id",
        ["INSERT", "UPDATE", "DELETE"],
        "",
    ),
]


def _forward(queue: str, column: str, table: str, key: str, ops: list[str], where: str) -> str:
    name = queue.removeprefix("reports_").removesuffix("queue")
    target = column.split()[0]
    new = f"INSERT INTO {queue} ({target}) SELECT {key} FROM new_rows {where};"
    old = f"INSERT INTO {queue} ({target}) SELECT {key} FROM old_rows {where};"
    if "DELETE" in ops:
        # The key itself can change or go: the old rows' keys are queued as well.
        body = f"IF TG_OP <> 'DELETE' THEN {new} END IF; IF TG_OP <> 'INSERT' THEN {old} END IF;"
    else:
        body = new
    sql = f"""
    CREATE TABLE {queue} ({column} NOT NULL);
    CREATE FUNCTION reports_{name}_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body}
        RETURN NULL;
    END;
    $$;
    """
    for op in ops:
        # A trigger with transition tables fires on one kind of statement only.
        rows = {
            "INSERT": "NEW TABLE AS new_rows",
            "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows"
            if "DELETE" in ops
            else "NEW TABLE AS new_rows",
            "DELETE": "OLD TABLE AS old_rows",
        }[op]
        sql += f"""
    CREATE TRIGGER reports_{name}_enqueue_{op.lower()} AFTER {op} ON {table}
        REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION reports_{name}_enqueue();
    """
    return sql


def _backward(queue: str, column: str, table: str, key: str, ops: list[str], where: str) -> str:
    name = queue.removeprefix("reports_").removesuffix("queue")
    sql = "".join(
        f"DROP TRIGGER IF EXISTS reports_{name}_enqueue_{op.lower()} ON {table};" for op in ops
    )
    return sql + f"DROP FUNCTION IF EXISTS reports_{name}_enqueue(); DROP TABLE IF EXISTS {queue};"


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_usage_queue"),
        ("scoring", "0002_entries_append_only"),
        ("ledger", "0005_erasure_guarded_update"),
    ]

    operations = [
        migrations.DeleteModel(name="RollupCursor"),
        migrations.CreateModel(
            name="RollupRefresh",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("refreshed_at", models.DateTimeField()),
            ],
        ),
        *(migrations.RunSQL(_forward(*q), _backward(*q)) for q in QUEUES),
    ]
