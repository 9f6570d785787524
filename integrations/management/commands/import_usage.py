"""``manage.py import_usage anthropic|openai --from DATE --to DATE``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.usage_reports.importing import (
    PROVIDERS,
    UsageApiError,
    UsageImportError,
    credentials_from_env,
    usage_report_import,
)
from ledger import clock
from ledger.query import PeriodError, parse_bound


class Command(BaseCommand):
    help = (
        "Import an organisation usage report (daily buckets, closed days only) into the "
        "ledger. The Admin API key is read from ANTHROPIC_ADMIN_API_KEY or "
        "OPENAI_ADMIN_API_KEY; ANTHROPIC_ADMIN_API_BASE_URL / OPENAI_ADMIN_API_BASE_URL "
        "override the API's address. Re-running a window stores nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("provider", choices=sorted(PROVIDERS))
        parser.add_argument(
            "--from", dest="start", required=True, help="First day, YYYY-MM-DD (UTC)."
        )
        parser.add_argument(
            "--to", dest="end", required=True, help="Last day, YYYY-MM-DD (UTC), inclusive."
        )

    def handle(self, *args: Any, provider: str, start: str, end: str, **options: Any) -> None:
        chosen = PROVIDERS[provider]
        try:
            since = parse_bound(start, field="from", end=False)
            until = parse_bound(end, field="to", end=True)
        except PeriodError as exc:
            raise CommandError(f"--{exc.field}: {exc.reason}") from exc
        if until <= since:
            raise CommandError("--to must not be before --from")
        try:
            result = usage_report_import(
                provider=chosen,
                credentials=credentials_from_env(chosen),
                start=since,
                end=until,
                now=clock.now(),
                progress=self.stdout.write,
            )
        except (UsageImportError, UsageApiError) as exc:
            raise CommandError(f"{provider} usage import failed: {exc}") from exc
        counts = ", ".join(
            f"{result.counts.get(status, 0)} {status}"
            for status in ("created", "duplicate", "conflict", "invalid")
        )
        self.stdout.write(f"{provider}: {result.fetched} record(s): {counts}")
        for problem in result.problems:
            self.stderr.write(f"refused {problem}")
        if result.counts.get("invalid"):
            raise CommandError(
                f"{provider} usage import stored the valid records but refused "
                f"{result.counts['invalid']} invalid one(s)"
            )
