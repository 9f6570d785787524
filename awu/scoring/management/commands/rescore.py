"""``manage.py rescore DEFINITION [--from DATE]``: replay a definition into a new version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from awu.definitions.models import Definition
from awu.definitions.services import DefinitionError
from awu.scoring.models import WorkUnit
from awu.scoring.services import definition_rescore, earliest_event_time
from ledger import access, audit, clock


def _moment(text: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 timestamp with an offset."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--from must be a date or an RFC 3339 timestamp, not {text!r}"
        ) from None
    if value.tzinfo is None:
        if len(text) > 10:
            raise CommandError("--from needs a UTC offset, e.g. 2026-11-01T00:00:00Z")
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Command(audit.OperatorCommand):
    operator_roles = (access.ADMIN,)
    help = (
        "Publish a new version of DEFINITION covering triggers from --from (default: the "
        "earliest event), supersede the older versions' units from then on (their entries "
        "stay), and score history with it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("definition", help="The definition's key, e.g. durable-change.")
        parser.add_argument("--from", dest="start", type=_moment, default=None)
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        definition = Definition.objects.filter(key=options["definition"]).first()
        if definition is None:
            known = ", ".join(Definition.objects.values_list("key", flat=True)) or "none"
            raise CommandError(f"no definition {options['definition']!r} (known: {known})")
        start = options["start"] or earliest_event_time()
        latest = definition.versions.order_by("-version").first()
        trigger_type = latest.trigger_type if latest else ""
        from ledger.models import WorkEvent

        total = WorkEvent.objects.filter(type=trigger_type, occurred_at__gte=start).count()
        bar = tqdm(total=total, unit="trigger", disable=options["verbosity"] == 0)
        try:
            result = definition_rescore(
                definition=definition,
                now=clock.now(),
                covers_from=start,
                batch_size=options["batch_size"],
                progress=bar.update,
            )
        except DefinitionError as exc:
            problems = "; ".join(f"{k}: {' / '.join(v)}" for k, v in exc.problems.items())
            raise CommandError(f"{exc}{': ' + problems if problems else ''}") from None
        finally:
            bar.close()
        states = {
            s: WorkUnit.objects.filter(version=result.version, state=s).count()
            for s in WorkUnit.State.values
        }
        self.stdout.write(
            f"Published {definition.key} v{result.version.version} covering triggers from "
            f"{result.covers_from:%Y-%m-%dT%H:%M:%SZ}; superseded {result.superseded} units of "
            f"older versions; scored {result.triggers} triggers into {result.units} units "
            f"({', '.join(f'{s} {n}' for s, n in states.items())}); {result.entries} entries."
        )
