"""Identity resolution: the bulk SQL form agrees with the one-at-a-time functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from ledger.identities import persons_for_actors, resolution_sql, team_at
from ledger.models import Identity, Membership, Person, Team

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 15, tzinfo=UTC)
JUN = datetime(2026, 6, 15, tzinfo=UTC)


def _resolve(rows: list[tuple[str, datetime, str | None]]) -> list[tuple[int | None, int | None]]:
    who = resolution_sql(actor="r.actor", at="r.at", named_team="r.team")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {who.person_id}, {who.team_id}
            FROM unnest(%s::text[], %s::timestamptz[], %s::text[]) WITH ORDINALITY
                AS r(actor, at, team, n)
            {who.join}
            ORDER BY r.n
            """,  # noqa: S608 - fragments from resolution_sql
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )
        return [tuple(row) for row in cursor.fetchall()]  # type: ignore[misc]


def test_resolution_sql_gives_the_person_and_the_team_team_at_gives() -> None:
    search = Team.objects.create(slug="search", name="Search")
    payments = Team.objects.create(slug="payments", name="Payments")
    ann = Person.objects.create(name="Ann", email="ann@example.com")
    Identity.objects.create(value="ann-laptop", person=ann)
    Membership.objects.create(
        person=ann, team=search, valid_from=datetime(2025, 1, 1, tzinfo=UTC), valid_to=JUN
    )
    Membership.objects.create(person=ann, team=payments, valid_from=JUN)
    person = persons_for_actors(["ann-laptop"])["ann-laptop"]

    rows = _resolve([("ann-laptop", JAN, None), ("ann-laptop", JUN, ""), ("ghost", JAN, None)])

    assert rows == [
        (person, team_at(person, JAN)),
        (person, team_at(person, JUN)),
        (None, None),
    ]
    assert [team for _, team in rows[:2]] == [search.pk, payments.pk]


def test_a_team_named_on_the_row_wins_and_an_unknown_slug_is_no_team() -> None:
    search = Team.objects.create(slug="search", name="Search")
    ops = Team.objects.create(slug="ops", name="Ops")
    ann = Person.objects.create(name="Ann", email="ann@example.com")
    Identity.objects.create(value="ann", person=ann)
    Membership.objects.create(person=ann, team=search, valid_from=datetime(2025, 1, 1, tzinfo=UTC))

    rows = _resolve([("ann", JAN, "ops"), ("ann", JAN, "nowhere")])

    assert rows == [(ann.pk, ops.pk), (ann.pk, None)]
