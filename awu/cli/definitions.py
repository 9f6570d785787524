"""``awu definitions list|preview|publish``: the services behind the admin and the API."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from awu.cli.base import CliError, Parser, print_table

if TYPE_CHECKING:
    from awu.definitions.models import DefinitionVersion


def register(commands: Any) -> None:
    definitions: Parser = commands.add_parser(
        "definitions", help="List, preview and publish AWU definitions."
    )
    actions = definitions.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True

    listing: Parser = actions.add_parser("list", help="Every definition and its latest version.")
    listing.add_argument("--domain", help="Only this domain.")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(run=run_list)

    preview: Parser = actions.add_parser(
        "preview",
        help="What a version would score over recent events (writes nothing).",
        description="Run a version (default: the latest) over the real events of the last "
        "--days days, as the admin's preview page and the preview API do. Writes nothing.",
    )
    preview.add_argument("key", help="The definition's key, e.g. contract-signed.")
    preview.add_argument("--version", type=int, metavar="N", help="Default: the latest.")
    preview.add_argument("--days", type=_days, default=30, metavar="DAYS", help="1-365.")
    preview.set_defaults(run=run_preview)

    publish: Parser = actions.add_parser(
        "publish",
        help="Publish a draft: it scores new triggers from now on.",
        description="Publish a draft version (default: the latest draft) after checking "
        "every expression. It governs triggers from now on; `awu rescore` replays history.",
    )
    publish.add_argument("key", help="The definition's key.")
    publish.add_argument("--version", type=int, metavar="N", help="Default: the latest draft.")
    publish.set_defaults(run=run_publish)


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise argparse.ArgumentTypeError(f"a whole number of days from 1 to 365, not {text!r}")
    return int(text)


def _version(key: str, number: int | None, *, draft: bool = False) -> DefinitionVersion:
    from awu.definitions.models import Definition, DefinitionVersion

    definition = Definition.objects.filter(key=key).first()
    if definition is None:
        known = ", ".join(Definition.objects.order_by("key").values_list("key", flat=True))
        raise CliError(f"no definition {key!r} (known: {known or 'none'})")
    versions = DefinitionVersion.objects.select_related("definition").filter(definition=definition)
    if number is not None:
        found = versions.filter(version=number).first()
        if found is None:
            raise CliError(f"{key} has no version {number}")
        return found
    if draft:
        versions = versions.filter(status=DefinitionVersion.Status.DRAFT)
    found = versions.order_by("-version").first()
    if found is None:
        raise CliError(
            f"{key} has no draft to publish; make one in the admin (new draft from a version)"
            if draft
            else f"{key} has no version"
        )
    return found


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    from awu.reports.selectors import definitions_list
    from ledger.http import OrjsonRenderer

    rows = definitions_list(domain=args.domain)
    if args.format == "json":
        sys.stdout.write(OrjsonRenderer().render({"results": rows}).decode() + "\n")
        return 0
    print_table(rows, ["key", "domain", "name", "latest_published_version", "owner_team"])
    return 0


def run_preview(args: argparse.Namespace, extra: list[str]) -> int:
    from awu.reports.measures import amount
    from awu.scoring.preview import definition_preview
    from ledger import clock

    version = _version(args.key, args.version)
    preview = definition_preview(version=version, days=args.days, now=clock.now())
    if preview.problems:
        problems = "; ".join(f"{k}: {' / '.join(v)}" for k, v in preview.problems.items())
        raise CliError(f"{version} has problems and was not run: {problems}")
    counts = ", ".join(f"{state} {n}" for state, n in preview.counts.items()) or "none"
    sys.stdout.write(
        f"{version} ({version.status}) over {preview.since:%Y-%m-%d %H:%M} to "
        f"{preview.now:%Y-%m-%d %H:%M} UTC ({preview.days} days): {preview.units_total} "
        f"units ({counts}); credit {amount(preview.credit)}; {preview.warnings} warnings"
        f"{'; only the most recent triggers were scored' if preview.truncated else ''}.\n"
    )
    if preview.sample:
        sys.stdout.write(f"The {len(preview.sample)} most recent:\n")
        print_table(
            [
                {
                    "trigger": unit.trigger_id,
                    "state": unit.state,
                    "units": amount(unit.units),
                    "triggered_at": unit.triggered_at,
                    "actor": unit.actor,
                    "subject": unit.subject,
                    "reason": unit.reason,
                }
                for unit in preview.sample
            ],
            ["trigger", "state", "units", "triggered_at", "actor", "subject", "reason"],
        )
    return 0


def run_publish(args: argparse.Namespace, extra: list[str]) -> int:
    from awu.definitions.services import definition_publish
    from ledger import access, clock
    from ledger.operators import operator_require

    operator_require("awu definitions publish", access.ADMIN)

    version = _version(args.key, args.version, draft=True)
    published = definition_publish(version=version, now=clock.now())
    sys.stdout.write(
        f"Published {published}: it scores triggers from "
        f"{published.covers_from:%Y-%m-%dT%H:%M:%SZ} on (awu rescore {args.key} replays "
        "history).\n"
    )
    return 0
