"""``awu report efficiency``: the efficiency report, parsed as the API parses it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from awu.cli.base import Parser, print_table

# Option -> query parameter, the API's names (parse_report_query checks the values).
_FILTERS = {
    "start": "from",
    "end": "to",
    "basis": "basis",
    "as_of": "as_of",
    "team": "team",
    "person": "person",
    "domain": "domain",
    "definition": "definition",
    "source": "source",
    "provider": "provider",
    "model": "model",
    "ai": "ai",
}
_MEASURES = [
    "awus_completed",
    "awus_pending",
    "awus_voided",
    "units",
    "token_cost_usd",
    "awus_per_dollar",
    "cost_per_awu",
    "durability",
    "ai_assisted_share",
]


def register(commands: Any) -> None:
    report: Parser = commands.add_parser("report", help="Print a report.")
    kinds = report.add_subparsers(dest="kind", metavar="REPORT", parser_class=Parser)
    kinds.required = True
    efficiency: Parser = kinds.add_parser(
        "efficiency",
        help="AWUs per token dollar, grouped (as GET /api/v1/reports/efficiency).",
        description="AWUs completed, pending and voided, token cost, AWUs per dollar, cost "
        "per AWU, durability and AI-assisted share per group, with the API's filters and "
        "checks. --format csv gives every column of the API's CSV; json its body.",
    )
    efficiency.add_argument("--from", dest="start", metavar="DATE", help="YYYY-MM-DD or RFC 3339.")
    efficiency.add_argument("--to", dest="end", metavar="DATE", help="Inclusive day, or RFC 3339.")
    efficiency.add_argument(
        "--group-by",
        action="append",
        metavar="DIM",
        help="team, department, cost_centre, person, domain, definition, model, week or "
        "month; repeat or comma-separate.",
    )
    efficiency.add_argument("--basis", help="triggered (default) or completed.")
    efficiency.add_argument("--as-of", metavar="TIME", help="The report as it stood then.")
    for name in ("team", "person", "domain", "definition", "source", "provider", "model"):
        efficiency.add_argument(f"--{name}", help=f"Only this {name}.")
    efficiency.add_argument("--ai", help="assisted or not (units only).")
    efficiency.add_argument("--format", choices=("table", "csv", "json"), default="table")
    efficiency.set_defaults(run=run_efficiency)


def run_efficiency(args: argparse.Namespace, extra: list[str]) -> int:
    from awu.reports.query import parse_report_query
    from awu.reports.selectors import efficiency_report
    from ledger.http import OrjsonRenderer
    from ledger.renderers import CsvRenderer

    params: dict[str, Any] = {
        param: getattr(args, option)
        for option, param in _FILTERS.items()
        if getattr(args, option) is not None
    }
    if args.group_by:
        params["group_by"] = args.group_by
    query = parse_report_query(params)
    rows = efficiency_report(query=query)
    body = {"results": rows, "group_by": list(query.group_by), "basis": query.basis}
    if args.format == "csv":
        sys.stdout.write(CsvRenderer().render(body).decode())
    elif args.format == "json":
        sys.stdout.write(OrjsonRenderer().render(body).decode() + "\n")
    else:
        keys = ["period" if g in ("week", "month") else g for g in query.group_by]
        print_table(rows, [*keys, *_MEASURES])
    return 0
