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

from django.db import connection, transaction
from django.db.models import QuerySet

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
            """,
            [Team.Status.DISCOVERED, missing],
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
    return Team.objects.filter(pk__in=ids, status=Team.Status.DISCOVERED).update(
        status=Team.Status.CONFIRMED
    )


def team_merge(*, team: Team, into: Team) -> Team:
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
        team.merged_into = into
        if team.status == Team.Status.DISCOVERED:
            team.status = Team.Status.CONFIRMED
        team.save(update_fields=["merged_into", "status"])
    return team


def team_slugs_counted_as(slug: str) -> list[str]:
    """The slugs a record may name to belong to team ``slug``: its own and those
    of the teams merged into it."""
    return [slug, *Team.objects.filter(merged_into__slug=slug).values_list("slug", flat=True)]
