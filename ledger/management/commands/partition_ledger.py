"""manage.py partition_ledger: partition the record tables online, before migrate.

For installs too large for the in-place conversion of migration 0016: copies
month by month while the service keeps writing, then swaps in one short
transaction (ledger.partition_convert). ``--dry-run`` measures the copy rate
on a sample and says how long the copy would take.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from ledger.partition_convert import convert_online, estimate
from ledger.partitions import RECORD_TABLES, is_partitioned


class Command(BaseCommand):
    help = "Range-partition ledger_workevent and ledger_tokenusage by month, online."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Measure and estimate; change nothing."
        )
        parser.add_argument("--table", choices=RECORD_TABLES, help="One table only.")

    def handle(self, *args: Any, dry_run: bool, table: str | None, **options: Any) -> None:
        out = self.stdout.write
        for name in [table] if table else RECORD_TABLES:
            with connection.cursor() as cursor:
                done = is_partitioned(cursor, name)
            if done:
                out(f"{name}: already partitioned")
            elif dry_run:
                guess = estimate(name)
                out(
                    f"{name}: ~{guess.rows:,} rows; measured on a sample: copying"
                    f" {guess.copied_per_second:,.0f} rows/s, indexing {guess.indexed_per_second:,.0f}"
                    f" rows/s -> ~{guess.seconds:,.0f} s (a lower bound); the swap then locks"
                    " the table only for the rows that arrived meanwhile"
                )
            else:
                convert_online(name, report=out)
