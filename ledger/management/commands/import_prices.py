from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import CommandError, CommandParser

from ledger import access, audit, clock
from ledger.pricing.imports import PriceImportReport, litellm_prices_import
from ledger.query import PeriodError, parse_bound


class Command(audit.OperatorCommand):
    operator_roles = (access.FINANCE,)
    help = (
        "Sync the price book from LiteLLM's model_prices_and_context_window.json: "
        "new models and changed prices become new entries; unchanged prices write nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--litellm",
            required=True,
            metavar="FILE",
            help="Path to LiteLLM's model_prices_and_context_window.json.",
        )
        parser.add_argument(
            "--provider",
            action="append",
            dest="providers",
            metavar="PROVIDER",
            help="Import only this litellm_provider (repeatable). Default: every provider.",
        )
        parser.add_argument(
            "--effective-from",
            metavar="WHEN",
            help=(
                "When the imported prices take effect: a date (UTC midnight) or an "
                "RFC 3339 timestamp. Default: now."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["litellm"])
        price_map = _read_map(path)
        if options["effective_from"]:
            try:
                effective_from = parse_bound(
                    options["effective_from"], field="effective-from", end=False
                )
            except PeriodError as exc:
                raise CommandError(f"--effective-from: {exc.reason}") from exc
        else:
            effective_from = clock.now().replace(microsecond=0)
        report = litellm_prices_import(
            price_map=price_map,
            effective_from=effective_from,
            providers=options["providers"],
            dry_run=options["dry_run"],
        )
        self._print(path, report, verbosity=options["verbosity"])

    def _print(self, path: Path, report: PriceImportReport, *, verbosity: int) -> None:
        out = self.stdout.write
        when = report.effective_from.isoformat().replace("+00:00", "Z")
        out(f"{path}: {report.keys} keys, prices effective from {when}.")
        if report.dry_run:
            out("Dry run: nothing was written.")
        verb = "would create" if report.dry_run else "created"
        replacing = [c for c in report.created if c.replaces is not None]
        out(f"{verb}: {len(report.created)} ({len(replacing)} replacing an earlier price)")
        for change in report.created:
            entry = change.entry
            if change.replaces is not None and change.replaces_from is not None:
                out(
                    f"  {entry.provider}/{entry.model}: replaces price #{change.replaces} "
                    f"(from {change.replaces_from:%Y-%m-%d})"
                )
            elif verbosity > 1:
                out(f"  {entry.provider}/{entry.model}: new")
        out(f"unchanged: {report.unchanged}")
        out(f"skipped: {len(report.skipped)}")
        for skipped in report.skipped:
            out(f"  {skipped.key}: {skipped.reason}")


def _read_map(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"{path} is not JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise CommandError(f"{path} is not a LiteLLM price map: expected a JSON object of models")
    return data
