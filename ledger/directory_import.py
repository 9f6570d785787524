"""Importing people, teams, memberships and identities from a CSV file (an HR export).

Two steps. ``rows_read`` checks every row on its own (columns, emails, slugs,
dates, identities, duplicates inside the file) and names each problem by line
and column. ``directory_import`` then applies the rows through ledger.directory,
in one transaction, recording each change it makes; a dry run is the same run
rolled back, so the diff it shows is exactly what the import would do, and a
second import of the same file finds nothing to change.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from ledger import directory
from ledger.errors import Conflict, InvalidInput
from ledger.models import Identity, Membership, Person, Team
from ledger.query import PeriodError, parse_bound

ORIGIN = directory.Origin.IMPORT
REQUIRED = ("name", "email")
OPTIONAL = (
    "team",
    "identities",
    "valid_from",
    "department",
    "cost_centre",
    "parent_team",
    "external_id",
)
COLUMNS = (*REQUIRED, *OPTIONAL)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_LIMITS = {"name": 200, "department": 200, "cost_centre": 100, "external_id": 200}


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    email: str
    team: str = ""
    identities: tuple[str, ...] = ()
    valid_from: datetime | None = None
    department: str = ""
    cost_centre: str = ""
    parent_team: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class Change:
    """One thing the import changes: ``kind`` is e.g. ``person.create``."""

    line: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind} {self.detail}"


@dataclass
class ImportResult:
    rows: int
    changes: list[Change] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    written: bool = False

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for change in self.changes:
            out[change.kind] = out.get(change.kind, 0) + 1
        return out


# --- Reading and checking the rows -----------------------------------------------------------


def rows_read(data: bytes) -> tuple[list[Row], list[RowError]]:
    """The rows of a CSV file and the problems of each (a row with one is left out)."""
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [RowError(line, "file", "not UTF-8 text")]
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    try:
        header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    except csv.Error as exc:
        return [], [RowError(1, "file", f"not CSV: {exc}")]
    problems = [
        RowError(1, name, "required column missing") for name in REQUIRED if name not in header
    ]
    problems += [
        RowError(1, name or "(empty)", f"unknown column; columns are {', '.join(COLUMNS)}")
        for name in header
        if name not in COLUMNS
    ]
    if problems:
        return [], problems
    reader.fieldnames = header
    rows: list[Row] = []
    seen_emails: dict[str, int] = {}
    seen_aliases: dict[str, tuple[int, str]] = {}
    try:
        for raw in reader:
            line = reader.line_num
            row, errors = _row(line, raw)
            if row is not None:
                errors += _duplicates(row, seen_emails, seen_aliases)
            problems += errors
            if row is not None and not errors:
                rows.append(row)
    except csv.Error as exc:
        problems.append(RowError(reader.line_num, "file", f"not CSV: {exc}"))
    return rows, problems


def _row(line: int, raw: dict[str, object]) -> tuple[Row | None, list[RowError]]:
    if "\x00extra" in raw:
        return None, [RowError(line, "row", "more cells than columns")]
    cells = {k: str(v or "").strip() for k, v in raw.items()}
    if not any(cells.values()):
        return None, []  # a blank line
    errors = [
        RowError(line, name, "may not contain NUL") for name, v in cells.items() if "\x00" in v
    ]
    errors += [
        RowError(line, name, f"longer than {limit} characters")
        for name, limit in _LIMITS.items()
        if len(cells.get(name, "")) > limit
    ]
    if not cells["name"]:
        errors.append(RowError(line, "name", "required"))
    email = cells["email"]
    try:
        validate_email(email)
    except ValidationError:
        errors.append(RowError(line, "email", "required" if not email else "not an email address"))
    for name in ("team", "parent_team"):
        if cells.get(name) and not _SLUG.match(cells[name]):
            errors.append(RowError(line, name, "not a team slug (letters, digits, _ . -)"))
    if cells.get("parent_team") and not cells.get("team"):
        errors.append(RowError(line, "parent_team", "give it with team"))
    if cells.get("parent_team") and cells.get("parent_team") == cells.get("team"):
        errors.append(RowError(line, "parent_team", "a team cannot be its own parent"))
    aliases = tuple(a.strip() for a in cells.get("identities", "").split(";") if a.strip())
    errors += [
        RowError(line, "identities", f"{a[:40]!r} is longer than 254 characters")
        for a in aliases
        if len(a) > 254
    ]
    valid_from = None
    if cells.get("valid_from"):
        try:
            valid_from = parse_bound(cells["valid_from"], field="valid_from", end=False)
        except PeriodError as exc:
            errors.append(RowError(line, "valid_from", exc.reason))
    if errors:
        return None, errors
    return (
        Row(
            line=line,
            name=cells["name"],
            email=email,
            team=cells.get("team", ""),
            identities=aliases,
            valid_from=valid_from,
            department=cells.get("department", ""),
            cost_centre=cells.get("cost_centre", ""),
            parent_team=cells.get("parent_team", ""),
            external_id=cells.get("external_id", ""),
        ),
        [],
    )


def _duplicates(
    row: Row, emails: dict[str, int], aliases: dict[str, tuple[int, str]]
) -> list[RowError]:
    errors = []
    key = row.email.lower()
    if key in emails:
        errors.append(RowError(row.line, "email", f"also on line {emails[key]}"))
    emails.setdefault(key, row.line)
    for alias in (row.email, *row.identities):
        other = aliases.get(alias)
        if other is not None and other[1] != key:
            errors.append(
                RowError(row.line, "identities", f"{alias!r} also given on line {other[0]}")
            )
        aliases.setdefault(alias, (row.line, key))
    return errors


# --- Applying them --------------------------------------------------------------------------


Note = Callable[[str, str], None]
# A clash found while applying is reported under the CSV's column.
_COLUMN_OF = {"value": "email", "parent": "parent_team"}


def directory_import(
    *, rows: Iterable[Row], errors: list[RowError], dry_run: bool, skip_invalid: bool
) -> ImportResult:
    """Apply the rows (``rows_read``'s) in one transaction.

    With ``errors`` (from reading) nothing is written unless ``skip_invalid``; a row
    that clashes with the directory (an external id or alias of someone else) is an
    error of its own, with the same rule. ``dry_run`` rolls everything back. The
    result lists each change made (or that would be made) and every error.
    """
    rows = list(rows)
    result = ImportResult(rows=len(rows) + len({e.line for e in errors if e.line > 1}))
    result.errors = list(errors)
    if errors and not skip_invalid and not dry_run:
        return result  # nothing would be written: no need to run it
    with transaction.atomic():
        for row in rows:
            changes: list[Change] = []
            try:
                with transaction.atomic():
                    _apply(row, changes)
            except (Conflict, InvalidInput) as exc:
                name, reasons = next(iter(exc.errors.items()))
                column = _COLUMN_OF.get(name, name)
                result.errors.append(RowError(row.line, column, "; ".join(reasons)))
                continue
            result.changes += changes
        refused = len(result.errors) > len(errors)
        if dry_run or (refused and not skip_invalid):
            transaction.set_rollback(True)
        else:
            result.written = True
    return result


def _apply(row: Row, changes: list[Change]) -> None:
    def note(kind: str, detail: str) -> None:
        changes.append(Change(row.line, kind, detail))

    person = _person(row, note)
    for alias in (row.email, *row.identities):
        current = Identity.objects.filter(value=alias).first()
        if current is not None and current.person_id == person.pk:
            continue
        directory.identity_map(value=alias, person=person, origin=ORIGIN)
        if current is None:
            note("identity.map", f"{alias} -> {row.email}")
        else:
            note("identity.remap", f"{alias} -> {row.email} (was person {current.person_id})")
    if row.team:
        team = _team(row, note)
        if not person.active:
            raise InvalidInput("inactive", {"team": [f"{row.email} is deactivated"]})
        _move(row, person, team, note)


def _person(row: Row, record: Note) -> Person:
    person = None
    if row.external_id:
        person = Person.objects.filter(external_id=row.external_id).first()
    person = person or Person.objects.filter(email__iexact=row.email).first()
    wanted: dict[str, Any] = {
        "name": row.name,
        "email": row.email,
        "department": row.department,
        "cost_centre": row.cost_centre,
        "external_id": row.external_id,
    }
    # An empty cell leaves the field as it is.
    wanted = {k: v for k, v in wanted.items() if v}
    if person is None:
        person = directory.person_create(origin=ORIGIN, **wanted)
        record("person.create", f"{row.email} ({row.name})")
        return person
    changed = {k: v for k, v in wanted.items() if getattr(person, k) != v}
    if changed:
        directory.person_update(person=person, origin=ORIGIN, **changed)
        fields = ", ".join(f"{k}: {getattr(person, k) or '-'!s} -> {v}" for k, v in changed.items())
        record("person.update", f"{row.email} ({fields})")
    return person


def _team(row: Row, record: Note) -> Team:
    parent = None
    if row.parent_team:
        parent = Team.objects.filter(slug=row.parent_team).first()
        if parent is None:
            parent = directory.team_create(
                slug=row.parent_team, name=row.parent_team, origin=ORIGIN
            )
            record("team.create", row.parent_team)
    team = Team.objects.filter(slug=row.team).first()
    if team is None:
        team = directory.team_create(slug=row.team, name=row.team, parent=parent, origin=ORIGIN)
        record("team.create", row.team + (f" (in {parent.slug})" if parent else ""))
    elif parent is not None and team.parent_id != parent.pk:
        was = team.parent.slug if team.parent else "-"
        team = directory.team_update(team=team, parent=parent, origin=ORIGIN)
        record("team.update", f"{row.team} (parent: {was} -> {parent.slug})")
    return team


def _move(row: Row, person: Person, team: Team, record: Note) -> None:
    open_rows = list(
        Membership.objects.filter(person=person, valid_to__isnull=True).select_related("team")
    )
    if any(m.team_id == team.pk for m in open_rows):
        return
    for m in open_rows:
        directory.membership_end(m, at=row.valid_from, origin=ORIGIN)
        record("membership.end", f"{row.email} in {m.team.slug}")
    m = directory.membership_start(
        person=person, team=team, valid_from=row.valid_from, origin=ORIGIN
    )
    record("membership.start", f"{row.email} in {team.slug} from {m.valid_from:%Y-%m-%d}")
