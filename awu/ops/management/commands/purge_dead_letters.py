"""``manage.py purge_dead_letters --older-than DAYS [--dry-run]``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from awu.ops.retention import dead_letters_purge
from ledger import clock


class Command(BaseCommand):
    help = (
        "Delete dead letters (raw vendor bodies) received, and ignored-delivery counters "
        "last seen, more than DAYS days ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, older_than: float, dry_run: bool, **options: Any) -> None:
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more days")
        report = dead_letters_purge(
            older_than=timedelta(days=older_than), now=clock.now(), dry_run=dry_run
        )
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {report.dead_letters} dead letters and {report.ignored_deliveries} "
            f"ignored-delivery records older than {report.cutoff:%Y-%m-%dT%H:%M:%SZ}"
        )
