"""Raw-facts benchmark: the reports' read of the raw tables (``as_of``, and periods
that do not fall on whole days), with and without PostgreSQL's JIT, in one run.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/raw_facts.py [--usage 60000] [--units 20000] [--rounds 2]

Loads a year (``bench.reports.load``) into a fresh ``awu_bench_raw_facts``, then
for each side of the efficiency report (units, entries, usage), now and as of a
later instant, times the year-long team x month read of the raw facts with
``jit = on`` (the server's default, the baseline) and ``jit = off`` (the
service's setting), alternating, and prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import bench_database_url, environment, manage  # noqa: E402
from bench.reports import load  # noqa: E402

_TIMER = """
import json, time
from datetime import UTC, datetime
from django.db import connection
from awu.reports.aggregate import side_rows
from awu.reports.query import ReportQuery

year = dict(start=datetime(2025, 1, 1, tzinfo=UTC), stop=datetime(2026, 1, 1, tzinfo=UTC),
            group_by=("team", "month"))
out = {}
for _ in range(ROUNDS):
    for jit in ("on", "off"):
        with connection.cursor() as c:
            c.execute(f"SET jit = {jit}")
        for side in ("units", "entries", "usage"):
            for as_of in (None, datetime(2030, 1, 1, tzinfo=UTC)):
                started = time.perf_counter()
                side_rows(side, ReportQuery(**year, as_of=as_of), raw=True)
                key = f"{side} {'as_of' if as_of else 'now'} jit={jit}"
                out.setdefault(key, []).append(time.perf_counter() - started)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--usage", type=int, default=60_000)
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", default="awu_bench_raw_facts", help="Made afresh.")
    args = parser.parse_args()
    url = bench_database_url(args.database)
    env = environment(url)
    manage(env, "migrate", "--verbosity", "0")
    load(url, usage=args.usage, units=args.units)
    import json

    printed = manage(env, "shell", "-c", _TIMER.replace("ROUNDS", str(args.rounds)))
    times: dict[str, list[float]] = json.loads(printed.strip().splitlines()[-1])
    print(f"{args.usage:,} usage rows, {args.units:,} units; median of {args.rounds}")
    for side in ("units", "entries", "usage"):
        for when in ("now", "as_of"):
            on = statistics.median(times[f"{side} {when} jit=on"])
            off = statistics.median(times[f"{side} {when} jit=off"])
            print(
                f"{side:8s} {when:6s} jit on {on:7.2f} s   jit off {off:7.2f} s   {on / off:5.1f}x"
            )


if __name__ == "__main__":
    main()
