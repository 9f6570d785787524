"""Teams named by records: discovered on first sight, then confirmed or merged.

A tool that names a team (``"team": "legal"``) is saying whose work or spend the
record is. When no team has that slug yet, one is made on the spot, marked
*discovered*, so the record is reported under it instead of under no team; a
person then confirms it or merges it into the team it really is. Records keep
the slug as sent; a merge changes one row, and every report (raw or rolled up)
counts the merged team as its target from then on, past included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from ledger import audit
from ledger.models import Team


class TeamMergeError(ValueError):
    """A merge that would lose a team or make a cycle."""


_lock = threading.Lock()
# Slugs this process knows to have a team. Teams are never deleted (they are
# merged instead), so the memo never goes stale.
_known: set[str] = set()


def teams_discover(slugs: Iterable[str | None]) -> None:
    """Make a discovered team for each slug that has none yet.

    One statement when a batch names a slug this process has not seen, none
    otherwise. Concurrent batches naming the same new slug make one team (the
    unique slug decides); slugs are inserted in sorted order so two such batches
    cannot deadlock on each other.
    """
    wanted = {s for s in slugs if s}
    with _lock:
        missing = sorted(wanted - _known)
    if not missing:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ledger_team (slug, name, domain, status, created_at)
            SELECT slug, slug, '', %s, now() FROM unnest(%s::text[]) AS slug
            ON CONFLICT (slug) DO NOTHING
            RETURNING id, slug
            """,
            [Team.Status.DISCOVERED, missing],
        )
        made = cursor.fetchall()
    # Only the rows this statement inserted come back: a team is recorded once.
    for team_id, slug in made:
        audit.record(
            "team.created",
            object_id=team_id,
            label=slug,
            after={"slug": slug, "status": Team.Status.DISCOVERED},
            reason="discovered: a record named it",
        )
    # Remembered once committed: a delivery whose transaction rolls back made
    # no team, and the next record naming it must try again.
    transaction.on_commit(lambda: _remember(missing))


def _remember(slugs: list[str]) -> None:
    with _lock:
        _known.update(slugs)


def forget_known_teams() -> None:
    with _lock:
        _known.clear()


def teams_discovered() -> QuerySet[Team]:
    """Discovered teams nobody has confirmed or merged yet."""
    return Team.objects.filter(status=Team.Status.DISCOVERED, merged_into__isnull=True)


def teams_confirm(*, teams: Iterable[Team]) -> int:
    """Mark teams as confirmed (kept as they are). Returns how many changed."""
    ids = [t.pk for t in teams]
    with transaction.atomic():
        confirmed = list(
            Team.objects.select_for_update().filter(pk__in=ids, status=Team.Status.DISCOVERED)
        )
        Team.objects.filter(pk__in=[t.pk for t in confirmed]).update(status=Team.Status.CONFIRMED)
        for team in confirmed:
            audit.record(
                "team.confirmed",
                obj=team,
                before={"status": Team.Status.DISCOVERED},
                after={"status": Team.Status.CONFIRMED},
            )
    return len(confirmed)


def team_merge(*, team: Team, into: Team, reason: str = "") -> Team:
    """Count ``team`` as ``into`` from now on, in every report, past included.

    ``team`` keeps its row and slug (records name it); teams merged into it
    before follow it to ``into``, so a report never follows more than one hop.
    Its memberships stay as they were (history is kept) and count for ``into``
    through the merge like everything else. Raises TeamMergeError for a merge into
    itself or into a team that is itself merged.
    """
    with transaction.atomic():
        # Lock both rows in id order: two merges cannot interleave into a cycle.
        locked = {
            t.pk: t
            for t in Team.objects.select_for_update()
            .filter(pk__in={team.pk, into.pk})
            .order_by("pk")
        }
        team, into = locked[team.pk], locked[into.pk]
        if team.pk == into.pk:
            raise TeamMergeError("a team cannot be merged into itself")
        if into.merged_into_id is not None:
            raise TeamMergeError(
                f"{into.slug!r} is itself merged into another team: merge into that one"
            )
        Team.objects.filter(merged_into=team).update(merged_into=into)
        before = {"merged_into": None, "status": team.status}
        team.merged_into = into
        if team.status == Team.Status.DISCOVERED:
            team.status = Team.Status.CONFIRMED
        team.save(update_fields=["merged_into", "status"])
        audit.record(
            "team.merged",
            obj=team,
            before=before,
            after={"merged_into": into.slug, "status": team.status},
            reason=reason,
        )
    return team


def team_slugs_counted_as(slug: str) -> list[str]:
    """The slugs a record may name to belong to team ``slug``: its own and those
    of the teams merged into it."""
    return [slug, *Team.objects.filter(merged_into__slug=slug).values_list("slug", flat=True)]


def team_create(
    *, slug: str, name: str, domain: str = "", reason: str = "", **directory: Any
) -> Team:
    """Make a confirmed team (the admin's add form, the directory API, the CSV
    import). ``directory`` holds the org-tree fields (``parent``, ``cost_centre``,
    ``external_id``); those given are in the audit row beside slug, name and domain."""
    with transaction.atomic():
        team = Team.objects.create(slug=slug, name=name or slug, domain=domain, **directory)
        given = {k: v for k, v in directory.items() if v not in (None, "")}
        audit.record(
            "team.created",
            obj=team,
            after={"slug": slug, "name": team.name, "domain": domain, **given},
            reason=reason,
        )
    return team


def team_rename(*, team: Team, name: str, domain: str | None = None, reason: str = "") -> Team:
    """Change a team's display name (and domain). Its slug never changes: records name it."""
    with transaction.atomic():
        locked = Team.objects.select_for_update().get(pk=team.pk)
        before = {"name": locked.name, "domain": locked.domain}
        locked.name = name
        if domain is not None:
            locked.domain = domain
        after = {"name": locked.name, "domain": locked.domain}
        if after != before:
            locked.save(update_fields=["name", "domain"])
            audit.record("team.renamed", obj=locked, before=before, after=after, reason=reason)
    return locked
