"""``awu up``, ``awu prepare`` and ``awu rescore``: the management commands, called in-process."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from awu.cli.base import Parser


def register(commands: Any) -> None:
    up: Parser = commands.add_parser(
        "up",
        add_help=False,
        help="Start web, worker and beat on this machine (as ./run up).",
        description="Start web, worker and beat on this machine, as ./run up does: migrate, "
        "install prices and the shipped definitions, create the first admin user and key "
        "(printed once), run until Ctrl-C. Options go to manage.py up: --host, --port, "
        "--web-workers, --concurrency, --no-services. AWU_ENV defaults to development.",
    )
    up.set_defaults(run=run_up, passthrough=True, development=True)

    prepare: Parser = commands.add_parser(
        "prepare",
        help="Migrate, install the shipped prices and definitions (for deploy pipelines).",
        description="Prepare the database a server runs on: migrate, install the shipped "
        "price book and the default definitions. Idempotent; starts nothing, creates no user "
        "or key and prints no secret.",
    )
    prepare.set_defaults(run=run_prepare)

    rescore: Parser = commands.add_parser(
        "rescore",
        help="Replay a definition over history into a new version.",
        description="Publish a new version of DEFINITION covering triggers from --from "
        "(default: the earliest event) and score history with it; the older versions' "
        "entries stay. Shows progress.",
    )
    rescore.add_argument("definition", nargs="?", help="The definition's key, e.g. durable-change.")
    rescore.add_argument(
        "--from", dest="start", metavar="DATE", help="A date or an RFC 3339 timestamp."
    )
    rescore.add_argument("--batch-size", type=_positive, metavar="N")
    rescore.add_argument(
        "--propose",
        action="store_true",
        help="Where the domain requires approval: request the rescore (as --as USERNAME).",
    )
    rescore.add_argument(
        "--request", type=_positive, metavar="ID", help="Run the approved rescore request ID."
    )
    rescore.set_defaults(run=run_rescore)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return int(text)


def run_up(args: argparse.Namespace, options: list[str]) -> int:
    from django.core.management import call_command, get_commands, load_command_class

    if {"-h", "--help"} & set(options):
        command = load_command_class(get_commands()["up"], "up")
        command.create_parser("awu", "up").print_help(sys.stdout)
        return 0
    call_command("up", *options)
    return 0


def run_prepare(args: argparse.Namespace, extra: list[str]) -> int:
    from django.core.management import call_command

    call_command("prepare")
    return 0


def run_rescore(args: argparse.Namespace, extra: list[str]) -> int:
    from django.core.management import call_command

    argv = [args.definition] if args.definition else []
    if args.propose:
        argv.append("--propose")
        if getattr(args, "acting_as", None):
            argv += ["--as", args.acting_as]
    if args.request is not None:
        argv += ["--request", str(args.request)]
    if args.start is not None:
        argv += ["--from", args.start]
    if args.batch_size is not None:
        argv += ["--batch-size", str(args.batch_size)]
    call_command("rescore", *argv)
    return 0
