"""``awu directory import``: the directory (people, teams, memberships) from a CSV file."""

from __future__ import annotations

import argparse
from typing import Any

from awu.cli.base import Parser


def register(commands: Any) -> None:
    parser: Parser = commands.add_parser(
        "directory", help="Import the directory (people, teams, memberships) from CSV."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    importing: Parser = actions.add_parser(
        "import",
        help="Import people.csv: name, email, team, identities, valid_from, ...",
        description="As manage.py directory_import: one transaction; every bad row is "
        "reported with its line and column and nothing is written unless --skip-invalid. "
        "Importing the same file twice changes nothing. See docs/directory.md.",
    )
    importing.add_argument("file", metavar="FILE")
    importing.add_argument("--dry-run", action="store_true", help="Show the diff; write nothing.")
    importing.add_argument(
        "--skip-invalid", action="store_true", help="Import the valid rows despite bad ones."
    )
    importing.set_defaults(run=run)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from django.core.management import call_command

    options = [
        flag
        for flag, on in (("--dry-run", args.dry_run), ("--skip-invalid", args.skip_invalid))
        if on
    ]
    call_command("directory_import", args.file, *options)
    return 0
