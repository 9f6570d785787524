from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from ledger import access, audit, clock
from ledger.pricing.reprice import RepriceError, RepriceLine, RepriceReport, usage_reprice
from ledger.query import PeriodError, parse_period


class Command(audit.OperatorCommand):
    operator_roles = (access.FINANCE,)
    help = (
        "Recompute the cost of one model's token usage in a period with the price book "
        "as it is now. Dry run by default; --apply appends one cost adjustment per "
        "changed record (stored costs are never rewritten)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, help="e.g. anthropic, openai.")
        parser.add_argument(
            "--model",
            required=True,
            help="Model id as the price book names it; its dated snapshots are included.",
        )
        parser.add_argument(
            "--from",
            dest="start",
            required=True,
            metavar="WHEN",
            help="First day (YYYY-MM-DD, UTC) or an RFC 3339 timestamp (inclusive).",
        )
        parser.add_argument(
            "--to",
            dest="stop",
            required=True,
            metavar="WHEN",
            help="Last day (YYYY-MM-DD, UTC, inclusive) or an RFC 3339 timestamp (exclusive).",
        )
        parser.add_argument(
            "--apply", action="store_true", help="Append the adjustments (default: dry run)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start, stop = parse_period(options["start"], options["stop"])
        except PeriodError as exc:
            raise CommandError(f"--{exc.field}: {exc.reason}") from exc
        if start is None or stop is None:  # argparse requires both; empty strings remain
            raise CommandError("give both --from and --to")
        apply: bool = options["apply"]
        # On stderr, and only on a terminal: the listing on stdout stays clean.
        bar = tqdm(unit="records", disable=None)
        try:
            report = usage_reprice(
                provider=options["provider"],
                model=options["model"],
                start=start,
                stop=stop,
                apply=apply,
                now=clock.now(),
                on_line=self._line,
                progress=lambda done, total: _advance(bar, done, total),
            )
        except RepriceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self._summary(report)

    def _line(self, line: RepriceLine) -> None:
        stored = "unpriced" if line.stored_cost is None else f"{line.stored_cost}"
        current = "unpriced" if line.current_cost is None else f"{line.current_cost}"
        so_far = "" if current == stored else f"  adjusted {current}"
        text = (
            f"usage {line.usage_id}  {line.occurred_at:%Y-%m-%dT%H:%M:%SZ}  {line.model}  "
            f"stored {stored}{so_far}  new {line.new_cost}  difference {_signed(line.difference)}"
            f"  (price #{line.price_id})"
        )
        # Clear the progress bar (if one is drawn) while the line is written.
        with tqdm.external_write_mode():
            self.stdout.write(text)

    def _summary(self, report: RepriceReport) -> None:
        out = self.stdout.write
        period = (
            f"{report.start:%Y-%m-%dT%H:%M:%SZ} to {report.stop:%Y-%m-%dT%H:%M:%SZ} (exclusive)"
        )
        out(f"{report.provider}/{report.model}, {period}:")
        out(f"  examined: {report.examined}")
        out(f"  changed: {report.changed}, total difference {_signed(report.total_difference)}")
        out(f"  unchanged: {report.unchanged}")
        if report.unpriceable:
            out(
                f"  no price now: {report.unpriceable} (no entry in force, or a rate missing "
                "for a token kind used); left as they are"
            )
        if report.reported:
            out(
                f"  reported cost: {report.reported} left as reported "
                "(reported beats computed; never repriced)"
            )
        if report.applied:
            out(f"Appended {report.adjustments_created} cost adjustments.")
        elif report.changed:
            out("Dry run: nothing was written. Run again with --apply to append the adjustments.")
        else:
            out("Dry run: nothing would change.")


def _advance(bar: Any, done: int, total: int) -> None:
    bar.total = total
    bar.update(done - bar.n)


def _signed(value: Decimal) -> str:
    return f"+{value}" if value >= 0 else f"{value}"
