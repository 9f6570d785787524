"""manage.py detach_partitions --before 2025-01: retention by month.

Detaches the record tables' monthly partitions that end on or before the given
month. Report rollups keep their totals (they are separate tables); listings
and anything that reads the raw records lose those months. The detached tables
stay in the database for the operator to archive and drop (docs/operations.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.partitions import partitions_detach


class Command(BaseCommand):
    help = "Detach the ledger's monthly partitions older than a month (retention)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="YYYY-MM: keep this month and later.")
        parser.add_argument("--apply", action="store_true", help="Detach (default: dry run).")

    def handle(self, *args: Any, before: str, apply: bool, **options: Any) -> None:
        try:
            month = datetime.strptime(before + "+0000", "%Y-%m%z").date()
        except ValueError as exc:
            raise CommandError(f"--before: expected YYYY-MM, got {before!r}") from exc
        names = partitions_detach(before=month, apply=apply)
        verb = "Detached" if apply else "Would detach"
        for name in names:
            self.stdout.write(f"{verb} {name}")
        if not names:
            self.stdout.write(f"No monthly partition ends before {before}.")
        elif not apply:
            self.stdout.write("Dry run: nothing changed. Run again with --apply.")
