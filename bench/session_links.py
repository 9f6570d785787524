"""Session lookups: the session links against the partitioned events, same run.

Usage (on a database ``bench/reports.py --keep`` loaded)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/awu_bench_3m \\
        .venv/bin/python bench/session_links.py [--days 3] [--rounds 3]

For each of ``--days`` days of the loaded year, the commits every usage record of
that day reaches through its sessions (what a rollup build computes per record),
two ways: through the session links (``ledger.spend.usage_reach_keys_sql``, one
index probe per session) and through the ``x.session.commit`` events themselves,
as before ledger migration 0020 (the events' ``ref_keys`` index, probed in every
monthly partition: nothing in the lookup names a month). Both must reach the same
commits; prints the p50 of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The baseline: the commits of the usage record's sessions, looked up in the events.
_THROUGH_EVENTS = """(u.ref_keys || ARRAY(
    SELECT 'commit:' || c.value
    FROM ledger_workevent se, jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(se.refs->'commit') = 'array' THEN se.refs->'commit' ELSE '[]'::jsonb END
    ) c
    WHERE se.type = 'x.session.commit'
      AND se.ref_keys && ARRAY(
          SELECT k FROM unnest(u.ref_keys) k WHERE k LIKE 'session:%%'
      )::varchar[]
)::varchar[])"""


def _reach_sql(reach: str) -> str:
    return (
        "SELECT count(*), md5(string_agg(array_to_string(ARRAY(SELECT DISTINCT k FROM unnest(r) k"
        " ORDER BY k), ','), ';' ORDER BY u.id))"
        f" FROM (SELECT u.id, {reach} AS r FROM ledger_tokenusage u"
        " WHERE u.occurred_at >= %(start)s AND u.occurred_at < %(stop)s"
        " AND u.ref_keys <> '{}') u"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")
    os.environ.setdefault("AWU_ENV", "development")
    import django

    django.setup()
    from ledger.spend import usage_reach_keys_sql

    links_sql = _reach_sql(usage_reach_keys_sql("u"))
    events_sql = _reach_sql(_THROUGH_EVENTS)
    # The same scan without a lookup: what both pay to read the day's records.
    scan_sql = _reach_sql("u.ref_keys")
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        partitions = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ledger_workevent'::regclass"
        ).fetchone()[0]  # type: ignore[index]
        print(f"ledger_workevent partitions: {partitions}")
        links_times: list[float] = []
        events_times: list[float] = []
        scan_times: list[float] = []
        records = 0
        for i in range(args.days):
            start = date(2025, 3, 3) + timedelta(days=97 * i)
            params = {"start": start, "stop": start + timedelta(days=1)}
            conn.execute(scan_sql, params)  # the day's records in the cache
            for _ in range(args.rounds):
                answers = []
                for sql, times in (
                    (scan_sql, scan_times),
                    (links_sql, links_times),
                    (events_sql, events_times),
                ):
                    began = time.perf_counter()
                    answers.append(conn.execute(sql, params).fetchone())
                    times.append(time.perf_counter() - began)
                if answers[1] != answers[2]:
                    raise SystemExit(f"{start}: the two lookups differ: {answers[1:]}")
            records += answers[1][0]  # type: ignore[index]
            print(f"{start}: {answers[1][0]:,} usage records with refs")  # type: ignore[index]
    scan = statistics.median(scan_times)
    links = statistics.median(links_times) - scan
    events = statistics.median(events_times) - scan
    per_day = records / args.days
    print(
        f"one day's session lookups (p50, the day's scan of {scan * 1000:.1f} ms taken off):"
        f" links {links * 1000:.1f} ms ({links / per_day * 1e6:.0f} us a record),"
        f" events {events * 1000:.1f} ms ({events / per_day * 1e6:.0f} us a record):"
        f" {events / links:.0f}x (same commits)"
    )


if __name__ == "__main__":
    main()
