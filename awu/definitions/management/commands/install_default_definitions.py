"""``manage.py install_default_definitions``: the shipped AWU definitions (idempotent)."""

from __future__ import annotations

from typing import Any

from awu.definitions.services import definitions_install_defaults
from ledger import audit, clock


class Command(audit.OperatorCommand):
    help = (
        "Install the shipped AWU definitions that are missing, and publish a new version of "
        "those whose shipped rules changed (a team's own version is left alone)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = definitions_install_defaults(now=clock.now())
        if options["verbosity"] == 0:
            return
        if created:
            self.stdout.write(
                f"Installed or updated {len(created)} definitions: {', '.join(created)}."
            )
        else:
            self.stdout.write("The shipped definitions are installed.")
