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

    def handle(self, *args: Any, name: str, scope: list[str], **options: Any) -> None:
        try:
            row, key = auth.api_key_create(name=name, scopes=scope)
        except auth.UnknownScope as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created API key {row.pk} '{row.name}' with scopes {', '.join(row.scopes)}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(key)
