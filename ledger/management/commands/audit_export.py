"""``manage.py audit_export --since WHEN [--until WHEN] [--output FILE]``: the trail as JSON lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import CommandError, CommandParser

from ledger import access, audit
from ledger.audit_reads import audit_events_export
from ledger.http import json_default
from ledger.query import PeriodError, parse_period


class Command(audit.OperatorCommand):
    operator_roles = (access.ADMIN,)
    help = (
        "Write the audit events recorded since --since (and before --until) as JSON lines, "
        "oldest first, one event per line, for a SIEM: to stdout, or to --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            required=True,
            metavar="WHEN",
            help="First day (YYYY-MM-DD, UTC) or an RFC 3339 timestamp (inclusive).",
        )
        parser.add_argument(
            "--until",
            metavar="WHEN",
            help="Last day (YYYY-MM-DD, inclusive) or an RFC 3339 timestamp (exclusive).",
        )
        parser.add_argument("--output", metavar="FILE", help="Write here instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start, stop = parse_period(options["since"], options["until"])
        except PeriodError as exc:
            name = {"from": "since", "to": "until"}.get(exc.field, exc.field)
            raise CommandError(f"--{name}: {exc.reason}") from exc
        if not options["output"]:
            _write(lambda line: self.stdout.write(line, ending=""), start, stop)
            return
        with Path(options["output"]).open("w", encoding="utf-8") as out:
            count = _write(out.write, start, stop)
        self.stderr.write(f"{count} audit events written to {options['output']}")


def _write(write: Callable[[str], Any], start: datetime | None, stop: datetime | None) -> int:
    count = 0
    for row in audit_events_export(start=start, stop=stop):
        write(orjson.dumps(row, default=json_default).decode() + "\n")
        count += 1
    return count
