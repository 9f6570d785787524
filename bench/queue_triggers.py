"""What the triggers on the scoring writes cost them, statement by statement: the
rollup queues, and the unit state history (scoring_unittransition).

Usage (a database that ``bench/scoring.py`` has filled)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/awu_bench \\
        .venv/bin/python bench/queue_triggers.py [--rounds 20]

Times the statements a scoring pass writes with (2,000 entries inserted, 2,000
units inserted, 2,000 units updated), each run with its queue trigger enabled and
disabled alternately (the history trigger on a settling update that changes every
unit's state), every run rolled back: the baseline is measured in the same
database in the same minute, which a whole drain on a shared machine cannot give.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import psycopg

_INSERT_UNITS = """INSERT INTO scoring_workunit (version_id, trigger_event_id, triggered_at, state,
            units, credited, reason, satisfied_at, completed_at, closes_at, evidence, ref_keys,
            actor, person_id, team_id, subject, ai_assisted, ai_share, created_at, updated_at)
        SELECT version_id, trigger_event_id + 100000000, triggered_at, state, units, credited,
            reason, satisfied_at, completed_at, closes_at, evidence, ref_keys, actor, person_id,
            team_id, subject, ai_assisted, ai_share, created_at, updated_at
        FROM scoring_workunit ORDER BY id LIMIT 2000"""

# (what, table, trigger, statement)
STATEMENTS = [
    (
        "insert 2,000 entries",
        "scoring_awuentry",
        "reports_entry_enqueue_insert",
        """INSERT INTO scoring_awuentry (unit_id, version_id, definition_id, domain, delta,
            state, reason, created_at, effective_at, person_id, team_id)
        SELECT unit_id, version_id, definition_id, domain, delta, state, reason, created_at,
            effective_at, person_id, team_id FROM scoring_awuentry ORDER BY id LIMIT 2000""",
    ),
    (
        "insert 2,000 units",
        "scoring_workunit",
        "reports_unit_enqueue_insert",
        _INSERT_UNITS,
    ),
    (
        "insert 2,000 units (state history)",
        "scoring_workunit",
        "scoring_unit_transition_insert",
        _INSERT_UNITS,
    ),
    (
        "settle 2,000 units (state history)",
        "scoring_workunit",
        "scoring_unit_transition_update",
        """UPDATE scoring_workunit SET updated_at = updated_at + interval '1 second',
            state = CASE WHEN state = 'pending' THEN 'completed' ELSE 'pending' END
        WHERE id IN (SELECT id FROM scoring_workunit ORDER BY id LIMIT 2000)""",
    ),
    (
        "update 2,000 units",
        "scoring_workunit",
        "reports_unit_enqueue_update",
        """UPDATE scoring_workunit SET updated_at = updated_at + interval '1 second'
        WHERE id IN (SELECT id FROM scoring_workunit ORDER BY id LIMIT 2000)""",
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("Set DATABASE_URL to a database bench/scoring.py has filled.")
    with psycopg.connect(url) as conn:
        for what, table, trigger, sql in STATEMENTS:
            times: dict[bool, list[float]] = {True: [], False: []}
            for n in range(2 * args.rounds):
                enabled = n % 2 == 0
                # Both runs pay the same DDL, so the plans are made afresh in both.
                conn.execute(
                    f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} TRIGGER {trigger}"
                )
                started = time.perf_counter()
                conn.execute(sql)
                times[enabled].append(time.perf_counter() - started)
                conn.rollback()
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(
                f"{what}: with the trigger p50 {on * 1000:.1f} ms, without {off * 1000:.1f} ms"
                f" ({(on - off) * 1000:+.1f} ms, {100 * (on - off) / off:+.1f}%)"
            )


if __name__ == "__main__":
    main()
