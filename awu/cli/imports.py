"""``awu import-usage``: a vendor's organisation usage report into the ledger."""

from __future__ import annotations

import argparse
from typing import Any

from awu.cli.base import Parser


def register(commands: Any) -> None:
    parser: Parser = commands.add_parser(
        "import-usage",
        help="Import a vendor usage report (anthropic, openai) for a window of days.",
        description="Import an organisation usage report (closed daily buckets) into the "
        "ledger, as manage.py import_usage. The Admin API key comes from "
        "ANTHROPIC_ADMIN_API_KEY or OPENAI_ADMIN_API_KEY. Re-running a window stores "
        "nothing twice.",
    )
    parser.add_argument("provider", help="anthropic or openai")
    parser.add_argument("--from", dest="start", required=True, metavar="DATE")
    parser.add_argument("--to", dest="end", required=True, metavar="DATE", help="Inclusive.")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from django.core.management import call_command

    # The command validates the provider and the dates and prints its progress.
    call_command("import_usage", args.provider, "--from", args.start, "--to", args.end)
    return 0
