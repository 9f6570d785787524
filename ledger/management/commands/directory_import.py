"""``manage.py directory_import FILE``: people, teams, memberships and identities from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from ledger import access, audit
from ledger.directory_import import COLUMNS, directory_import, rows_read

MAX_BYTES = 50 * 1024 * 1024


class Command(audit.OperatorCommand):
    operator_roles = (access.ADMIN,)
    help = (
        f"Import the directory from a CSV file with the columns {', '.join(COLUMNS)} "
        "(name and email required; identities: alias;alias). One transaction; a second "
        "import of the same file changes nothing. See docs/directory.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="The CSV file (UTF-8).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows even when others have errors (they are reported).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_BYTES:
                raise CommandError(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MB")
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        rows, errors = rows_read(data)
        result = directory_import(
            rows=rows,
            errors=errors,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
        )
        write = self.stdout.write
        for error in result.errors:
            write(f"error {error}")
        lines = len({e.line for e in result.errors})
        if result.errors and not options["skip_invalid"] and not options["dry_run"]:
            raise CommandError(
                f"nothing written: {lines} line(s) have errors"
                " (fix them, or --skip-invalid imports the other rows)"
            )
        if result.errors and options["skip_invalid"]:
            write(f"Skipped {lines} line(s) with errors.")
        if not result.changes:
            write(f"No changes: the directory already matches {path.name}.")
        else:
            dry_run = options["dry_run"]
            write("Would change (dry run, nothing written):" if dry_run else "Changed:")
            for change in result.changes:
                write(f"  {change}")
            summary = ", ".join(f"{kind} {n}" for kind, n in sorted(result.counts().items()))
            write(f"{'Would make' if dry_run else 'Made'}: {summary}.")
        if result.errors and options["dry_run"] and not options["skip_invalid"]:
            raise CommandError(
                f"{lines} line(s) have errors: the import would write nothing"
                " (fix them, or --skip-invalid imports the other rows)"
            )
