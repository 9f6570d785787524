from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ledger import access, audit, auth


class Command(audit.OperatorCommand):
    operator_roles = (access.ADMIN,)
    help = "Create an API key. The key is printed once, alone, on the last line of stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the key is for, e.g. 'deploy-bot'.")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=auth.SCOPES,
            help="Repeat for several scopes.",
        )
        parser.add_argument(
            "--team",
            action="append",
            default=[],
            metavar="SLUG",
            help="Limit what the key reads to this team (and the teams below it and merged "
            "into it); repeat for several. None: every team.",
        )

    def handle(
        self, *args: Any, name: str, scope: list[str], team: list[str], **options: Any
    ) -> None:
        try:
            teams = auth.teams_by_slug(team)
            row, key = auth.api_key_create(name=name, scopes=scope, teams=teams)
        except auth.UnknownTeam as exc:
            raise CommandError(f"--team: {exc}") from exc
        except auth.UnknownScope as exc:
            raise CommandError(str(exc)) from exc
        limited = f", limited to teams {', '.join(t.slug for t in teams)}" if teams else ""
        self.stderr.write(
            f"Created API key {row.pk} '{row.name}' with scopes {', '.join(row.scopes)}"
            f"{limited}. Store it now: it is not shown again."
        )
        self.stdout.write(key)
