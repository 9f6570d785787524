"""``manage.py erase_person PERSON [--dry-run]``: erase one person's identity data."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from awu.ops.erasure import ErasureReport, PersonNotFound, person_erase
from ledger import access, audit, clock
from ledger.models import Identity, Person


class Command(audit.OperatorCommand):
    operator_roles = (access.ADMIN,)
    help = (
        "Erase a person's name, email and identity values everywhere (the person becomes "
        "a pseudonym; every count and total stays). PERSON is an id, an email or an "
        "identity value. Idempotent; audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("person", help="Person id, email, or identity value.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change, change nothing."
        )

    def handle(self, *args: Any, person: str, dry_run: bool, **options: Any) -> None:
        person_id = _person_id(person)
        try:
            report = person_erase(person_id=person_id, now=clock.now(), dry_run=dry_run)
        except PersonNotFound as exc:
            raise CommandError(f"no person with id {person_id}") from exc
        self.stdout.write(_describe(report))


def _person_id(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    found = Person.objects.filter(email__iexact=text).values_list("pk", flat=True).first()
    if found is None:
        found = Identity.objects.filter(value=text).values_list("person_id", flat=True).first()
    if found is None:
        raise CommandError(f"no person has the email or identity {text!r}")
    return found


def _describe(report: ErasureReport) -> str:
    verb = "would change" if report.dry_run else "changed"
    lines = [f"person {report.person_id} -> {report.pseudonym}"]
    lines += [f"  {table}: {count} rows" for table, count in sorted(report.counts.items())]
    if report.changed:
        lines.append(
            f"{verb} {report.changed} rows"
            + (" (dry run, nothing written)" if report.dry_run else "")
        )
    else:
        lines.append("nothing to change: already erased")
    return "\n".join(lines)
