"""``awu``: the operator command line.

Each command parses its arguments with argparse (``awu --help`` needs no database),
then sets up Django and calls the same services and management commands the API,
the admin and ``manage.py`` use. A failure is one line on stderr and exit code 1;
a usage error (a bad option, date or filter) exits with 2. ``--traceback`` shows
the stack of an unexpected error instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from awu.cli import definitions, directory, imports, keys, ops, reports
from awu.cli.base import CliError, Parser, failure, setup_django

_GROUPS = (ops, keys, definitions, reports, imports, directory)


def build_parser() -> Parser:
    parser = Parser(
        prog="awu",
        description="Operate an AWU Ledger: start it, manage API keys and definitions, "
        "rescore, import vendor usage and the directory, and read reports.",
        epilog="Settings come from the environment, as for manage.py (DATABASE_URL, "
        "AWU_ENV, SECRET_KEY, ...). See docs/cli.md.",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="Show the stack of an unexpected error."
    )
    parser.add_argument(
        "--as",
        dest="acting_as",
        metavar="NAME",
        help="Who runs this command, for the audit trail (default: the operating-system user).",
    )
    parser.add_argument(
        "--reason",
        dest="audit_reason",
        metavar="TEXT",
        help="Why, for the audit trail (a ticket, a request).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``awu`` command; returns the exit code (0, 1 failure, 2 usage error)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(args_list)
        # Only `awu up` passes options through (to manage.py up); elsewhere they are mistakes.
        if extra and not getattr(args, "passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code if isinstance(exc.code, int) else 2
    try:
        setup_django(development=getattr(args, "development", False))
        from ledger.audit import operator_named

        with operator_named(args.acting_as, args.audit_reason):
            code: int = args.run(args, extra)
        return code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        sys.stderr.write("awu: interrupted\n")
        return 130
    except Exception as exc:
        if args.traceback and not isinstance(exc, CliError):
            raise
        code, message = failure(exc)
        where = " ".join(
            str(part)
            for part in (
                "awu",
                args.command,
                getattr(args, "action", None),
                getattr(args, "kind", None),
            )
            if part
        )
        sys.stderr.write(f"{where}: {message}\n")
        return code


__all__ = ["main"]
