"""``awu keys create|list|revoke``: API keys, through ledger.auth."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from awu.cli.base import USAGE, CliError, Parser, print_table


def register(commands: Any) -> None:
    keys: Parser = commands.add_parser("keys", help="Create, list and revoke API keys.")
    actions = keys.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True

    create: Parser = actions.add_parser(
        "create",
        help="Create a key; it is printed once, alone, on the last line of stdout.",
        description="Create an API key. Only its hash is stored: the key is printed once, "
        "alone, on the last line of stdout.",
    )
    create.add_argument("name", help="What the key is for, e.g. deploy-bot.")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="SCOPE",
        help="events:write, usage:write, reports:read, audit:read or admin; repeat for several.",
    )
    create.add_argument(
        "--team",
        action="append",
        default=[],
        metavar="SLUG",
        help="Limit what the key reads to this team (with the teams below it and merged "
        "into it); repeat for several. None: every team.",
    )
    create.set_defaults(run=run_create)

    listing: Parser = actions.add_parser(
        "list", help="List keys (never the keys themselves: only their first characters)."
    )
    listing.add_argument("--active", action="store_true", help="Leave out revoked keys.")
    listing.set_defaults(run=run_list)

    revoke: Parser = actions.add_parser("revoke", help="Revoke a key by its id (see list).")
    revoke.add_argument("id", type=int, help="The key's id.")
    revoke.set_defaults(run=run_revoke)


def _require_admin(action: str) -> None:
    from ledger import access
    from ledger.operators import operator_require

    operator_require(f"awu keys {action}", access.ADMIN)


def run_create(args: argparse.Namespace, extra: list[str]) -> int:
    from ledger import auth

    _require_admin("create")

    try:
        teams = auth.teams_by_slug(args.team)
    except auth.UnknownTeam as exc:
        raise CliError(f"--team: {exc} (see: awu teams list, or the admin)", USAGE) from exc
    try:
        row, key = auth.api_key_create(name=args.name, scopes=args.scope, teams=teams)
    except auth.UnknownScope as exc:
        raise CliError(f"--scope: {exc}", USAGE) from exc
    limited = f", limited to teams {', '.join(t.slug for t in teams)}" if teams else ""
    sys.stderr.write(
        f"Created API key {row.pk} '{row.name}' with scopes {', '.join(row.scopes)}{limited}. "
        "Store it now: it is not shown again.\n"
    )
    sys.stdout.write(key + "\n")
    return 0


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    from ledger.models import ApiKey

    _require_admin("list")

    keys = ApiKey.objects.order_by("id").prefetch_related("teams")
    if args.active:
        keys = keys.filter(revoked_at__isnull=True)
    print_table(
        [
            {
                "id": k.pk,
                "name": k.name,
                "prefix": f"{k.prefix}…",
                "scopes": k.scopes,
                "teams": ",".join(sorted(t.slug for t in k.teams.all())) or "(every team)",
                "created_at": k.created_at,
                "last_used_at": k.last_used_at,
                "revoked_at": k.revoked_at,
            }
            for k in keys
        ],
        ["id", "name", "prefix", "scopes", "teams", "created_at", "last_used_at", "revoked_at"],
    )
    return 0


def run_revoke(args: argparse.Namespace, extra: list[str]) -> int:
    from django.conf import settings

    from ledger import auth
    from ledger.models import ApiKey

    _require_admin("revoke")
    try:
        row = auth.api_key_revoke(key_id=args.id)
    except ApiKey.DoesNotExist:
        raise CliError(f"no API key with id {args.id} (see: awu keys list)") from None
    sys.stdout.write(
        f"Revoked API key {row.pk} '{row.name}' ({row.prefix}…). Running servers refuse it "
        f"within {settings.AWU_API_KEY_CACHE_SECONDS:g} s.\n"
    )
    return 0
