"""``manage.py rescore DEFINITION [--from DATE]``: replay a definition into a new version.

Where the definition's domain requires approval (awu.definitions.approvals):
``rescore DEFINITION --propose --as USERNAME [--from DATE]`` requests it (the
user must be an admin or a lead of the owning team), someone outside the owning
team approves it in the admin, and ``rescore --request ID`` runs it (once).
A plain ``rescore DEFINITION`` is refused there, saying so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from awu.definitions.approvals import change_propose, policy_for, rescore_request_for_run
from awu.definitions.models import ChangeRequest, Definition
from awu.definitions.services import DefinitionError
from awu.scoring.models import WorkUnit
from awu.scoring.services import definition_rescore, earliest_event_time
from ledger import access, audit, clock
from ledger.operators import operator_require


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
    # A team lead may propose a rescore of their team's definitions and run it once
    # approved (the approval service checks the team); a plain rescore is an admin's.
    operator_roles = (access.ADMIN, access.TEAM_LEAD)
    help = (
        "Publish a new version of DEFINITION covering triggers from --from (default: the "
        "earliest event), supersede the older versions' units from then on (their entries "
        "stay), and score history with it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "definition", nargs="?", help="The definition's key, e.g. durable-change."
        )
        parser.add_argument("--from", dest="start", type=_moment, default=None)
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--propose",
            action="store_true",
            help="Request the rescore for approval (as the user named with --as).",
        )
        parser.add_argument(
            "--request", type=int, metavar="ID", help="Run the approved rescore request ID."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["propose"] and options["request"] is None:
            operator_require("rescore", access.ADMIN)
        approval = None
        if options["request"] is not None:
            try:
                approval = rescore_request_for_run(request_id=options["request"])
            except DefinitionError as exc:
                raise CommandError(str(exc)) from None
            definition = approval.definition
        else:
            if not options["definition"]:
                raise CommandError("name the DEFINITION to rescore, or --request ID")
            found = Definition.objects.filter(key=options["definition"]).first()
            if found is None:
                known = ", ".join(Definition.objects.values_list("key", flat=True)) or "none"
                raise CommandError(f"no definition {options['definition']!r} (known: {known})")
            definition = found
        if options["propose"]:
            self._propose(definition, options)
            return
        if approval is not None:
            start = approval.covers_from or earliest_event_time()
            trigger_type = approval.version.trigger_type
        else:
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
                approval=approval,
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

    def _propose(self, definition: Definition, options: dict[str, Any]) -> None:
        from django.contrib.auth import get_user_model

        from awu.scoring.preview import definition_preview_diff

        username = options.get("acting_as")
        user = get_user_model().objects.filter(username=username).first() if username else None
        if user is None:
            raise CommandError(
                "--propose needs --as USERNAME: the admin or owning team's lead who proposes it"
            )
        latest = definition.versions.order_by("-version").first()
        if latest is None:
            raise CommandError(f"{definition.key} has no version to rescore")
        policy = policy_for(definition.domain)
        now = clock.now()
        try:
            change = change_propose(
                version=latest,
                by=user,
                kind=ChangeRequest.Kind.RESCORE,
                preview=definition_preview_diff(version=latest, days=policy.preview_days, now=now),
                preview_days=policy.preview_days,
                now=now,
                covers_from=options["start"],
                note=options.get("audit_reason") or "",
            )
        except DefinitionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Requested a rescore of {definition.key} from v{latest.version} (request "
            f"#{change.pk}); once someone outside the owning team approves it in the admin, "
            f"run: rescore --request {change.pk}"
        )
