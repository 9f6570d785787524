"""``manage.py seed_demo``: the demo company, sent through the real ingest path.

About 200 people in 8 teams across engineering, sales, legal, support and
marketing, with 120 days of work and token spend ending today (docs/demo.md).
Seeded and idempotent: the same ``--seed`` makes the same records, and a second
run is answered ``duplicate`` and stores nothing new.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from awu.demo import company as demo
from awu.demo import deliver
from awu.reports.rollups import rollups_refresh
from ledger import clock
from ledger.pricing.book import install_published_prices


class Command(BaseCommand):
    help = "Build the demo company (people, work, token spend) through the ingest API and webhooks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=demo.DEFAULT_SEED, help="Same seed, same company."
        )
        parser.add_argument("--people", type=int, default=demo.DEFAULT_PEOPLE)
        parser.add_argument("--days", type=int, default=demo.DEFAULT_DAYS)
        parser.add_argument(
            "--score",
            action="store_true",
            help="Score now in the foreground (what score_now runs) and refresh the "
            "report rollups, instead of leaving it to the worker.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=4,
            help="Webhook deliveries in flight at once (1: one after the other).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        # The demo's records are priced and scored by what the product ships.
        install_published_prices()
        call_command("install_default_definitions", verbosity=0)
        anchor = deliver.demo_anchor(now=clock.now())
        try:
            company = demo.company_build(
                anchor=anchor, seed=options["seed"], people=options["people"], days=options["days"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        made = deliver.organisation_install(company=company)
        tally = deliver.company_deliver(
            company=company, progress=not options["no_progress"], workers=options["workers"]
        )
        self.stdout.write(
            f"Demo company: {len(company.people)} people in {len(company.teams)} teams, "
            f"{company.days} days to {company.anchor:%Y-%m-%d} (seed {company.seed}); "
            f"new: {made.get('people', 0)} people, {made.get('identities', 0)} identities."
        )
        self.stdout.write(
            f"Sent {len(company.events)} events, {len(company.usage)} usage records and "
            f"{len(company.hooks)} webhook deliveries in {tally.requests} requests: "
            + ", ".join(f"{key} {n}" for key, n in sorted(tally.statuses.items()))
            + "."
        )
        for problem in tally.problems:
            self.stderr.write(f"  {problem}")
        _settle_statistics()
        if options["score"]:
            call_command("score_now", stdout=self.stdout, stderr=self.stderr)
            rollups_refresh()
        self.stdout.write(f"Seeded in {time.monotonic() - started:.1f} s.")
        if tally.problems:
            raise CommandError(f"{len(tally.problems)} records or deliveries were refused.")


def _settle_statistics() -> None:
    """Fresh planner statistics and merged GIN pending lists for the ledger tables.

    Thousands of rows just arrived in tables autovacuum has not looked at yet; the
    scoring that follows would otherwise plan against empty-looking tables and scan
    the GIN indexes' pending lists on every ref lookup. Both steps run inside a
    transaction too (VACUUM would not).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
            " WHERE a.amname = 'gin'"
            " AND i.indrelid IN (SELECT relid FROM pg_partition_tree('ledger_workevent')"
            " UNION ALL SELECT relid FROM pg_partition_tree('ledger_tokenusage'))"
            " AND c.relkind = 'i'"
        )
        cursor.execute("ANALYZE ledger_workevent, ledger_tokenusage")
