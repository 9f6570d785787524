"""Reports benchmark: report latency over HTTP on a year of data, rollups vs naive.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/reports.py [--usage 2000000] [--units 200000] [--requests 40]

1. Makes a fresh database ``awu_bench_reports`` and migrates it.
2. Bulk-loads (COPY) a year for 1,000 people in 10 teams: token usage (30% with a
   session), work units in every state with their AWU entries, and
   ``x.session.commit`` events that tie sessions to the units' commits.
3. Builds the rollups (timed).
4. Starts gunicorn and measures each report endpoint over HTTP (p50/p99), and the
   same efficiency report computed naively from the raw tables (``as_of`` forces
   the raw path) in the same run.

Goals: p50 <= 100 ms for the year-long efficiency report by team and month, and
>= 20x faster than the naive GROUP BY.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import bench_database_url, environment, gunicorn, manage  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
PEOPLE, TEAMS = 1000, 10
MODELS = ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5"]


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:  # type: ignore[type-arg]
    with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def load(url: str, *, usage: int, units: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    conn = psycopg.connect(url, autocommit=False)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with conn.cursor() as c:
        c.execute(
            "INSERT INTO ledger_source (kind, slug, name, secret_encrypted, previous_secret_encrypted,"
            " config, enabled, created_at) VALUES ('api', 'gateway', '', '', '', '{}', true, now()),"
            " ('api', 'otel', '', '', '', '{}', true, now()) RETURNING id"
        )
        source_ids = [r[0] for r in c.fetchall()]
        for t in range(TEAMS):
            c.execute(
                "INSERT INTO ledger_team (slug, name, domain, created_at) VALUES (%s, %s, %s, now())",
                (f"team-{t}", f"Team {t}", "engineering" if t < 7 else "sales"),
            )
        c.execute("SELECT id FROM ledger_team ORDER BY slug")
        team_ids = [r[0] for r in c.fetchall()]
        # The org tree: two departments over the teams, cost centres on one and on
        # a team below it (the department and cost_centre groupings read it).
        for slug, domain, centre, members in (
            ("dept-eng", "engineering", "CC-ENG", team_ids[:7]),
            ("dept-sales", "sales", "", team_ids[7:]),
        ):
            c.execute(
                "INSERT INTO ledger_team (slug, name, domain, cost_centre, created_at)"
                " VALUES (%s, %s, %s, %s, now()) RETURNING id",
                (slug, slug, domain, centre),
            )
            (dept_id,) = c.fetchone()
            c.execute(
                "UPDATE ledger_team SET parent_id = %s WHERE id = ANY(%s)", (dept_id, members)
            )
        c.execute(
            "UPDATE ledger_team SET cost_centre = 'CC-PLATFORM' WHERE id = %s", (team_ids[0],)
        )
        for d, (key, domain) in enumerate([("shipped", "engineering"), ("won", "sales")]):
            c.execute(
                "INSERT INTO definitions_definition (key, name, domain, description, created_at)"
                " VALUES (%s, %s, %s, '', now()) RETURNING id",
                (key, key, domain),
            )
            def_id = c.fetchone()[0]  # type: ignore[index]
            c.execute(
                "INSERT INTO definitions_definitionversion (definition_id, version, status, trigger_type,"
                " trigger_condition, requires, survive_days, disqualifiers, units, covers_from, published_at,"
                " created_at, note) VALUES (%s, 1, 'published', %s, '', '[]', 0, '[]', '1', %s, %s, now(), '')"
                " RETURNING id",
                (
                    def_id,
                    "code.pr.merged" if d == 0 else "crm.opportunity.stage_changed",
                    START,
                    START,
                ),
            )
        c.execute(
            "SELECT v.id, d.id, d.domain FROM definitions_definitionversion v JOIN definitions_definition d ON d.id = v.definition_id ORDER BY d.id"
        )
        versions = c.fetchall()
    _copy(conn, "ledger_person", ["id", "name", "email", "created_at"],
          [(p + 1, f"Person {p}", f"p{p}@example.com", now) for p in range(PEOPLE)])  # fmt: skip
    _copy(conn, "ledger_identity", ["value", "person_id", "created_at"],
          [(f"p{p}@example.com", p + 1, now) for p in range(PEOPLE)])  # fmt: skip
    _copy(conn, "ledger_membership", ["person_id", "team_id", "valid_from"],
          [(p + 1, team_ids[p % TEAMS], START - timedelta(days=400)) for p in range(PEOPLE)])  # fmt: skip
    people = [(p + 1, team_ids[p % TEAMS]) for p in range(PEOPLE)]
    year = 365 * 86400

    # Work units and entries.
    unit_rows, entry_rows, event_rows, trigger_rows = [], [], [], []
    for u in range(units):
        person_id, team_id = rng.choice(people)
        version_id, def_id, domain = versions[0] if team_id in team_ids[:7] else versions[1]
        triggered = START + timedelta(seconds=rng.randrange(year))
        state = rng.choices(["completed", "voided", "pending", "expired"], [70, 10, 12, 8])[0]
        done = (
            triggered + timedelta(days=rng.randint(1, 20))
            if state in ("completed", "voided")
            else None
        )
        ai = rng.random() < 0.6
        refs = "{" + f"commit:c{u}" + "}"
        # A pending unit is inside its survival window (maturing), as most are.
        satisfied = triggered if state == "pending" else done
        closes = triggered + timedelta(days=30) if state == "pending" else None
        unit_rows.append((u + 1, version_id, 10_000_000 + u, state, 1, 1 if state == "completed" else 0,
                          None, triggered, satisfied, done, closes, "{}", refs, f"p{person_id - 1}@example.com",
                          person_id, team_id, None, ai, None, None, None, triggered, done or triggered))  # fmt: skip
        if state in ("completed", "voided"):
            entry_rows.append(
                (
                    u + 1,
                    version_id,
                    def_id,
                    domain,
                    1,
                    "completed",
                    None,
                    done,
                    done,
                    person_id,
                    team_id,
                )
            )
            if state == "voided":
                later = done + timedelta(days=3)  # type: ignore[operator]
                entry_rows.append(
                    (
                        u + 1,
                        version_id,
                        def_id,
                        domain,
                        -1,
                        "voided",
                        "reverted",
                        later,
                        later,
                        person_id,
                        team_id,
                    )
                )
        # The trigger: reports attribute a unit from its trigger event when read.
        trigger_rows.append((10_000_000 + u, source_ids[1], f"merged-{u}", "code.pr.merged",
                             triggered, triggered, f"p{person_id - 1}@example.com",
                             f'{{"commit": ["c{u}"]}}', "{" + f"commit:c{u}" + "}", "{}"))  # fmt: skip
        if u % 4 == 0:
            event_rows.append((source_ids[1], f"commit-{u}", "x.session.commit", triggered, triggered,
                               f'{{"session": ["s{u}"], "commit": ["c{u}"]}}', "{" + f"session:s{u},commit:c{u}" + "}", "{}"))  # fmt: skip
    _copy(conn, "scoring_workunit",
          ["id", "version_id", "trigger_event_id", "state", "units", "credited", "reason", "triggered_at",
           "satisfied_at", "completed_at", "closes_at", "evidence", "ref_keys", "actor", "person_id", "team_id",
           "subject", "ai_assisted", "ai_share", "superseded_at", "superseded_by_id", "created_at", "updated_at"],
          unit_rows)  # fmt: skip
    _copy(conn, "scoring_awuentry",
          ["unit_id", "version_id", "definition_id", "domain", "delta", "state", "reason", "created_at",
           "effective_at", "person_id", "team_id"], entry_rows)  # fmt: skip
    _copy(conn, "ledger_workevent",
          ["source_id", "external_id", "type", "occurred_at", "received_at", "refs", "ref_keys", "attributes"],
          event_rows)  # fmt: skip
    _copy(conn, "ledger_workevent",
          ["id", "source_id", "external_id", "type", "occurred_at", "received_at", "actor", "refs",
           "ref_keys", "attributes"],
          trigger_rows)  # fmt: skip
    # Token usage, in chunks.
    columns = ["source_id", "external_id", "occurred_at", "received_at", "actor", "provider", "model",
               "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_creation_1h_input_tokens",
               "cache_read_input_tokens", "cost_usd", "cost_source", "refs", "ref_keys", "attributes"]  # fmt: skip
    chunk = []
    for i in range(usage):
        person_id, _ = (
            people[min(PEOPLE - 1, int(rng.paretovariate(1.2)) * 7 % PEOPLE)]
            if i % 3
            else rng.choice(people)
        )
        when = START + timedelta(seconds=rng.randrange(year))
        session = rng.randrange(units) if rng.random() < 0.3 else None
        refs = f'{{"session": ["s{session}"]}}' if session is not None else "{}"
        keys = f"{{session:s{session}}}" if session is not None else "{}"
        model = MODELS[i % 4]
        chunk.append((source_ids[0], f"u{i}", when, when, f"p{person_id - 1}@example.com", "anthropic", model,
                      rng.randint(100, 20000), rng.randint(10, 2000), 0, 0, rng.randint(0, 50000),
                      f"{rng.uniform(0.001, 0.5):.6f}", "reported", refs, keys, "{}"))  # fmt: skip
        if len(chunk) == 100_000:
            _copy(conn, "ledger_tokenusage", columns, chunk)
            chunk = []
    if chunk:
        _copy(conn, "ledger_tokenusage", columns, chunk)
    with conn.cursor() as c:
        for seq, table in [
            ("scoring_workunit_id_seq", "scoring_workunit"),
            ("ledger_person_id_seq", "ledger_person"),
        ]:
            c.execute(f"SELECT setval('{seq}', (SELECT max(id) FROM {table}))")
    conn.commit()
    conn.close()
    admin = psycopg.connect(url, autocommit=True)
    admin.execute("VACUUM ANALYZE")
    admin.close()


def measure(base: str, path: str, params: dict[str, str], key: str, n: int) -> list[float]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    url = f"{path}?{urlencode(params)}"
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("GET", url, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


# A window cut mid-month (as the dashboard's): whole months from the monthly
# rollups, the edge days from the daily ones.
WINDOW_120 = {"from": "2025-08-20", "to": "2025-12-17"}

_EDGES_VS_DAILY = """
import statistics, time
from datetime import UTC, datetime
from awu.reports.measures import rows_from_sides, sides_for
from awu.reports.query import ReportQuery
q = ReportQuery(start=datetime(2025, 8, 20, tzinfo=UTC), stop=datetime(2025, 12, 18, tzinfo=UTC),
                group_by=("team",))
def p50(monthly):
    times = []
    for _ in range(15):
        t = time.perf_counter()
        rows = rows_from_sides(q, sides_for(q, raw=False, monthly=monthly))
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows
mixed, a = p50(None)
daily, b = p50(False)
assert a == b, "the two answers differ"
print(f"team report, 120 days cut mid-month, in process: monthly + edge days p50 {mixed * 1000:.1f} ms,"
      f" daily rollups only p50 {daily * 1000:.1f} ms: {daily / mixed:.1f}x (same answer)")
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--usage", type=int, default=2_000_000)
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--naive-requests", type=int, default=3)
    parser.add_argument("--database", default="awu_bench_reports", help="Made afresh.")
    parser.add_argument("--port", type=int, default=8793)
    args = parser.parse_args()
    url = bench_database_url(args.database)
    env = environment(
        url,
        AWU_REPORTS_MAX_LAG_SECONDS="3600",
        # The naive baseline takes minutes at full size: past gunicorn's 30 s default.
        GUNICORN_CMD_ARGS="--timeout 1800",
    )
    manage(env, "migrate", "--verbosity", "0")
    started = time.perf_counter()
    load(url, usage=args.usage, units=args.units)
    print(
        f"loaded {args.usage:,} usage rows and {args.units:,} units in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    manage(env, "refresh_rollups", "--full")
    print(f"built rollups in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(url) as conn:
        sizes = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in (
                "reports_usagerollup",
                "reports_usagemonthrollup",
                "reports_unitrollup",
                "reports_unitmonthrollup",
                "reports_entryrollup",
                "reports_entrymonthrollup",
            )
        }
    print(
        "rollup rows: " + ", ".join(f"{t.removeprefix('reports_')} {n:,}" for t, n in sizes.items())
    )
    key = manage(env, "create_api_key", "bench", "--scope", "reports:read").strip().splitlines()[-1]
    year = {"from": "2025-01-01", "to": "2025-12-31"}
    cases = [
        (
            "efficiency team x month",
            "/api/v1/reports/efficiency",
            {**year, "group_by": "team,month"},
        ),
        (
            "efficiency department x month",
            "/api/v1/reports/efficiency",
            {**year, "group_by": "department,month"},
        ),
        (
            "efficiency cost_centre x month",
            "/api/v1/reports/efficiency",
            {**year, "group_by": "cost_centre,month"},
        ),
        ("efficiency person", "/api/v1/reports/efficiency", {**year, "group_by": "person"}),
        ("efficiency model", "/api/v1/reports/efficiency", {**year, "group_by": "model"}),
        (
            "efficiency team x month, model",
            "/api/v1/reports/efficiency",
            {**year, "group_by": "team,month", "model": "gpt-5"},
        ),
        ("spend deciles", "/api/v1/reports/spend-deciles", year),
        (
            "trend by month, one team",
            "/api/v1/reports/trend",
            {**year, "interval": "month", "team": "team-3"},
        ),
        (
            "trend by week, one team",
            "/api/v1/reports/trend",
            {**year, "interval": "week", "team": "team-3"},
        ),
        ("work units page", "/api/v1/work-units", {**year, "state": "completed", "limit": "100"}),
        (
            "efficiency team, 120 days",
            "/api/v1/reports/efficiency",
            {**WINDOW_120, "group_by": "team"},
        ),
    ]
    with gunicorn(env, port=args.port, workers=2) as base:
        measure(base, "/api/v1/reports/efficiency", year, key, 2)  # warm up
        results = {}
        for name, path, params in cases:
            lat = measure(base, path, params, key, args.requests)
            results[name] = lat
            print(
                f"{name:32s} p50 {statistics.median(lat) * 1000:8.1f} ms   p99 {sorted(lat)[int(0.99 * (len(lat) - 1))] * 1000:8.1f} ms"
            )
        naive = measure(
            base,
            "/api/v1/reports/efficiency",
            {**year, "group_by": "team,month", "as_of": "2030-01-01"},
            key,
            args.naive_requests,
        )
        print(
            f"{'naive team x month (raw tables)':32s} p50 {statistics.median(naive) * 1000:8.1f} ms"
        )
        ratio = statistics.median(naive) / statistics.median(results["efficiency team x month"])
        print(
            f"rollups are {ratio:.0f}x faster than naive (goal >= 20x); "
            f"p50 goal <= 100 ms: {'met' if statistics.median(results['efficiency team x month']) <= 0.1 else 'missed'}"
        )
    print(manage(env, "shell", "-c", _EDGES_VS_DAILY).strip())


if __name__ == "__main__":
    main()
