"""Erasing a person's identity data: no trace of it anywhere, every number unchanged,
and the append-only triggers still refuse every ordinary edit."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Sum

from awu.definitions.services import definitions_install_defaults
from awu.ops.erasure import person_erase
from awu.ops.models import Erasure
from awu.reports.query import ReportQuery
from awu.reports.rollups import rollups_refresh
from awu.reports.selectors import efficiency_report
from awu.scoring import services
from awu.scoring.models import AwuEntry, WorkUnit
from integrations.models import DeadLetter
from ledger import audit
from ledger.ingest import events_ingest, usage_ingest
from ledger.models import (
    AuditEvent,
    CostAdjustment,
    EventKey,
    Identity,
    Membership,
    Person,
    Source,
    Team,
    TokenUsage,
    WorkEvent,
)
from tests.e2e import stories
from tests.ledger import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PERIOD = {"start": datetime(2026, 7, 1, tzinfo=UTC), "stop": datetime(2026, 12, 1, tzinfo=UTC)}
# Everything that names Alice, in one form or another.
ALICE_VALUES = ["Alice Liddell", "alice@example.com", "github:alice", "alice-gh"]


@pytest.fixture(autouse=True)
def _no_wakeups(settings: Any) -> None:
    # Scoring is driven directly below; no broker is involved.
    settings.AWU_OUTBOX_WAKE_TASK = ""


def _person(name: str, email: str, identities: list[str], team: Team) -> Person:
    person = Person.objects.create(name=name, email=email)
    for value in identities:
        Identity.objects.create(value=value, person=person)
    Membership.objects.create(person=person, team=team, valid_from=NOW - timedelta(days=400))
    return person


def _ingest(events: list[dict[str, Any]]) -> None:
    results = events_ingest(items=events, now=NOW)
    assert {r.status for r in results} == {"created"}, results


def _spend(actor: str, cost: str, days_ago: int, **extra: Any) -> dict[str, Any]:
    return factories.usage(
        actor=actor,
        cost_usd=cost,
        occurred_at=(NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z"),
        **extra,
    )


@pytest.fixture
def org(db: None) -> dict[str, Any]:
    """Alice and Bob, their scored work and spend, a dead letter and an admin log line each."""
    definitions_install_defaults(now=NOW - timedelta(days=800))
    payments = Team.objects.create(slug="payments", name="Payments", domain="engineering")
    search = Team.objects.create(slug="search", name="Search", domain="engineering")
    alice = _person(
        "Alice Liddell", "alice@example.com", ["alice@example.com", "github:alice-gh"], payments
    )
    bob = _person("Bob Marley", "bob@example.com", ["bob@example.com"], search)

    events: list[dict[str, Any]] = []
    for n in range(4):
        events += stories.durable_change(
            f"a{n}", NOW - timedelta(days=50 + n), actor=alice_actor(n)
        )
    events += stories.durable_change(
        "av", NOW - timedelta(days=70), disqualifier="revert", disqualify_after=3
    )
    events += stories.durable_change("ap", NOW - timedelta(days=5))  # still pending
    for n in range(3):
        events += stories.durable_change(
            f"b{n}", NOW - timedelta(days=40 + n), actor="bob@example.com"
        )
    # Alice named inside attributes of the deploy of one of Bob's changes, nested.
    events[-3]["attributes"]["review"] = {"approvers": ["github:alice-gh", "alice-gh"]}
    events[-3]["attributes"]["coauthor"] = "Alice Liddell"
    _ingest(events)
    services.outbox_drain(clock=lambda: NOW, batch_size=1000)

    usage = [_spend("alice@example.com", "1.25", d) for d in (10, 20, 30, 60)]
    usage += [_spend("github:alice-gh", "0.75", 15)]
    usage += [_spend("bob@example.com", "2.00", d) for d in (12, 44)]
    usage += [
        _spend("bob@example.com", "0.10", 3, attributes={"on_behalf_of": "alice@example.com"})
    ]
    assert {r.status for r in usage_ingest(items=usage, now=NOW)} == {"created"}

    source = Source.objects.create(kind="github", slug="acme")
    DeadLetter.objects.create(
        source=source,
        vendor="github",
        received_at=NOW,
        url="/api/v1/hooks/github/acme",
        headers={"X-GitHub-Event": "pull_request"},
        body=b'{"pull_request": {"user": {"login": "alice-gh", "email": null}}}',
        error="pull_request.merged missing",
    )
    DeadLetter.objects.create(
        source=source,
        vendor="github",
        received_at=NOW,
        headers={},
        body=b'{"pull_request": {"user": {"login": "bob-gh"}}}',
        error="pull_request.merged missing",
    )
    admin = get_user_model().objects.create_user("admin")
    for person in (alice, bob):
        LogEntry.objects.create(
            user=admin,
            content_type=ContentType.objects.get_for_model(Person),
            object_id=str(person.pk),
            object_repr=str(person),
            action_flag=CHANGE,
            change_message=f"Changed email to {person.email}",
        )
    return {"alice": alice, "bob": bob}


def alice_actor(n: int) -> str:
    return "github:alice-gh" if n % 2 else "alice@example.com"


def _reports() -> dict[str, Any]:
    rollups_refresh(full=True)
    out: dict[str, Any] = {}
    for grouping in (("person",), ("team",), ("team", "month")):
        query = ReportQuery(**PERIOD, group_by=grouping)
        out[f"rollups by {grouping}"] = efficiency_report(query=query)
        # "as of" reads the raw tables, resolving actors through identities again.
        raw = ReportQuery(**PERIOD, group_by=grouping, as_of=NOW + timedelta(days=1))
        out[f"raw by {grouping}"] = efficiency_report(query=raw)
    return out


def _totals() -> dict[str, Any]:
    return {
        "events": WorkEvent.objects.count(),
        "usage": TokenUsage.objects.aggregate(n=Count("id"), cost=Sum("cost_usd")),
        "units": list(
            WorkUnit.objects.values("state", "person_id", "team_id")
            .annotate(n=Count("id"), units=Sum("units"))
            .order_by("state", "person_id", "team_id")
        ),
        "entries": list(AwuEntry.objects.order_by("id").values_list("id", "delta", "person_id")),
        "event_bodies": list(
            WorkEvent.objects.order_by("id").values_list(
                "id", "type", "occurred_at", "refs", "team"
            )
        ),
    }


def _text_columns() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name, c.data_type
            FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY')
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()


def _traces(values: list[str]) -> list[str]:
    """Every (table, column) whose text holds one of ``values`` (case-insensitive)."""
    found = []
    wanted = [v.lower() for v in values]
    with connection.cursor() as cursor:
        for table, column, data_type in _text_columns():
            text = (
                f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            )
            cursor.execute(
                f'SELECT DISTINCT v FROM "{table}", unnest(%s::text[]) AS v'  # noqa: S608
                f" WHERE strpos(lower({text}), v) > 0 ORDER BY v",
                [wanted],
            )
            found += [f"{table}.{column} holds {value!r}" for (value,) in cursor.fetchall()]
    return found


def test_scan_finds_every_value_before_the_erasure(org: dict[str, Any]) -> None:
    # The scan below proves nothing unless it sees the values where they are.
    found = "\n".join(_traces(ALICE_VALUES))

    for where in (
        "ledger_person.name",
        "ledger_person.email",
        "ledger_identity.value",
        "ledger_workevent.actor",
        "ledger_workevent.attributes",
        "ledger_tokenusage.actor",
        "ledger_tokenusage.attributes",
        "scoring_workunit.actor",
        "integrations_deadletter.body",
        "django_admin_log.object_repr",
    ):
        assert where in found


def test_no_text_column_of_any_table_holds_the_erased_values(org: dict[str, Any]) -> None:
    person_erase(person_id=org["alice"].pk, now=NOW)

    assert _traces(ALICE_VALUES) == []


def test_every_report_total_is_the_same_after_the_erasure(org: dict[str, Any]) -> None:
    reports, totals = _reports(), _totals()
    assert any(row["person"] == org["alice"].pk for row in reports["rollups by ('person',)"])

    person_erase(person_id=org["alice"].pk, now=NOW)

    assert _totals() == totals
    assert _reports() == reports


def test_the_person_keeps_their_id_and_becomes_the_pseudonym(org: dict[str, Any]) -> None:
    alice = org["alice"]

    report = person_erase(person_id=alice.pk, now=NOW)

    alice.refresh_from_db()
    assert report.pseudonym.startswith("erased-")
    assert (alice.name, alice.email) == (report.pseudonym, None)
    assert list(Identity.objects.filter(person=alice).values_list("value", flat=True)) == [
        report.pseudonym
    ]
    assert set(WorkEvent.objects.filter(actor=report.pseudonym).values_list("type", flat=True))
    assert Membership.objects.filter(person=alice).count() == 1


def test_the_erasure_reports_what_changed_table_by_table(org: dict[str, Any]) -> None:
    report = person_erase(person_id=org["alice"].pk, now=NOW)

    # 6 merges and a revert by Alice (deploys are the deploy bot's) plus a deploy
    # naming her in attributes; 5 usage records plus Bob's one naming her; her 6
    # units; one dead letter; one admin log line; 2 identities out and 1 in.
    assert report.counts == {
        "ledger_workevent": 7 + 1,
        "ledger_tokenusage": 5 + 1,
        "scoring_workunit": 6,
        "ledger_auditevent": 0,
        "integrations_deadletter": 1,
        "django_admin_log": 1,
        "ledger_identity": 3,
        "ledger_person": 1,
    }


def test_other_people_are_untouched(org: dict[str, Any]) -> None:
    bob = org["bob"]
    before = list(
        WorkEvent.objects.filter(actor="bob@example.com").order_by("id").values("id", "actor")
    )

    person_erase(person_id=org["alice"].pk, now=NOW)

    bob.refresh_from_db()
    assert (bob.name, bob.email) == ("Bob Marley", "bob@example.com")
    assert (
        list(WorkEvent.objects.filter(actor="bob@example.com").order_by("id").values("id", "actor"))
        == before
    )
    assert [bytes(body) for body in DeadLetter.objects.values_list("body", flat=True)] == [
        b'{"pull_request": {"user": {"login": "bob-gh"}}}'
    ]
    assert LogEntry.objects.filter(object_repr="Bob Marley").count() == 1


def test_erasing_twice_changes_nothing_the_second_time(org: dict[str, Any]) -> None:
    first = person_erase(person_id=org["alice"].pk, now=NOW)
    second = person_erase(person_id=org["alice"].pk, now=NOW + timedelta(hours=1))

    assert second.pseudonym == first.pseudonym
    assert second.changed == 0
    assert list(Erasure.objects.values_list("person_id", "pseudonym")) == [
        (org["alice"].pk, first.pseudonym)
    ]


def test_a_unit_scored_with_the_old_actor_during_an_erasure_is_fixed_by_running_again(
    org: dict[str, Any],
) -> None:
    first = person_erase(person_id=org["alice"].pk, now=NOW)
    # What a scoring pass that read the trigger before the erasure committed writes.
    unit = WorkUnit.objects.filter(actor=first.pseudonym).first()
    assert unit is not None
    WorkUnit.objects.filter(pk=unit.pk).update(actor="alice@example.com")

    again = person_erase(person_id=org["alice"].pk, now=NOW)

    assert again.counts["scoring_workunit"] == 1
    assert _traces(ALICE_VALUES) == []


def test_the_audit_record_holds_counts_and_no_personal_data(org: dict[str, Any]) -> None:
    report = person_erase(person_id=org["alice"].pk, now=NOW)

    audit = Erasure.objects.get()
    assert (audit.person_id, audit.pseudonym, audit.counts, audit.at) == (
        org["alice"].pk,
        report.pseudonym,
        report.counts,
        NOW,
    )


def test_dry_run_counts_what_a_run_would_change_and_changes_nothing(
    org: dict[str, Any],
) -> None:
    dry = person_erase(person_id=org["alice"].pk, now=NOW, dry_run=True)

    assert dry.changed > 0
    assert len(_traces(ALICE_VALUES)) >= 10
    assert not Erasure.objects.exists()
    assert person_erase(person_id=org["alice"].pk, now=NOW).counts == dry.counts


def test_redelivery_of_an_erased_event_is_still_a_duplicate(org: dict[str, Any]) -> None:
    original = stories.durable_change("a0", NOW - timedelta(days=50))
    person_erase(person_id=org["alice"].pk, now=NOW)

    results = events_ingest(items=original, now=NOW)

    assert {r.status for r in results} == {"duplicate"}
    assert _traces(["alice@example.com"]) == []


def test_an_email_no_identity_maps_stays_unmapped_under_a_pseudonym_of_its_own(
    db: None,
) -> None:
    team = Team.objects.create(slug="legal", name="Legal")
    carol = _person("Carol", "carol@example.com", ["github:carol"], team)
    usage_ingest(items=[_spend("carol@example.com", "3.00", 5)], now=NOW)

    report = person_erase(person_id=carol.pk, now=NOW)

    [actor] = TokenUsage.objects.values_list("actor", flat=True)
    assert actor.startswith("erased-")
    assert actor != report.pseudonym
    assert not Identity.objects.filter(value=actor).exists()


def test_the_flag_is_closed_again_after_the_erasure(org: dict[str, Any]) -> None:
    person_erase(person_id=org["alice"].pk, now=NOW)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        WorkEvent.objects.filter(actor__startswith="erased-").update(actor="erased-other")


# --- the guarded path through the append-only triggers ---------------------------


def _flagged(statement: Callable[[], Any]) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL awu.erasure = 'on'")
        statement()


@pytest.fixture
def stored(org: dict[str, Any]) -> dict[str, Any]:
    usage = TokenUsage.objects.filter(actor="bob@example.com").first()
    assert usage is not None
    return {"event": WorkEvent.objects.filter(actor="bob@example.com").first(), "usage": usage}


def test_an_ordinary_update_of_the_actor_is_still_refused(stored: dict[str, Any]) -> None:
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"), transaction.atomic():
        WorkEvent.objects.filter(pk=stored["event"].pk).update(actor="erased-0123456789ab")


def test_an_erasure_flagged_delete_is_refused(stored: dict[str, Any]) -> None:
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"):
        _flagged(lambda: WorkEvent.objects.filter(pk=stored["event"].pk).delete())


@pytest.mark.parametrize(
    ("model", "change"),
    [
        ("event", {"type": "x.tampered"}),
        ("event", {"occurred_at": NOW}),
        ("event", {"refs": {}}),
        ("event", {"team": "search"}),
        ("usage", {"cost_usd": 0}),
        ("usage", {"input_tokens": 1}),
        ("usage", {"model": "other"}),
    ],
    ids=lambda v: v if isinstance(v, str) else next(iter(v)),
)
def test_an_erasure_flagged_update_touching_another_column_is_refused(
    stored: dict[str, Any], model: str, change: dict[str, Any]
) -> None:
    row = stored[model]

    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"):
        _flagged(
            lambda: (
                type(row).objects.filter(pk=row.pk).update(actor="erased-0123456789ab", **change)
            )
        )

    assert type(row).objects.filter(pk=row.pk, actor="bob@example.com").exists()


def test_an_erasure_flagged_update_may_not_give_the_work_to_someone_else(
    stored: dict[str, Any],
) -> None:
    with pytest.raises(DatabaseError, match="only replace actor with a pseudonym"):
        _flagged(
            lambda: WorkEvent.objects.filter(pk=stored["event"].pk).update(
                actor="alice@example.com"
            )
        )


@pytest.mark.parametrize("model", [CostAdjustment, EventKey], ids=lambda m: m.__name__)
def test_the_flag_opens_nothing_on_the_other_ledger_tables(
    stored: dict[str, Any], model: type[Any]
) -> None:
    if model is CostAdjustment:
        CostAdjustment.objects.create(usage_id=stored["usage"].id, delta_usd=1, reason="fix")
    column = model._meta.pk_fields[0].column
    rewrite = f"UPDATE {model._meta.db_table} SET {column} = {column}"  # noqa: S608

    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"):
        _flagged(lambda: connection.cursor().execute(rewrite))


def test_an_erasure_flagged_update_of_actor_and_attributes_alone_passes(
    stored: dict[str, Any],
) -> None:
    row = stored["event"]

    _flagged(
        lambda: WorkEvent.objects.filter(pk=row.pk).update(
            actor="erased-0123456789ab", attributes={}
        )
    )

    assert WorkEvent.objects.get(pk=row.pk).actor == "erased-0123456789ab"


# --- the command -----------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("erase_person", *args, stdout=out)
    return out.getvalue()


def test_command_dry_run_prints_what_would_change_and_changes_nothing(
    org: dict[str, Any], settings: Any
) -> None:
    settings.AWU_NOW = "2026-11-23T12:00:00Z"

    output = _command("alice@example.com", "--dry-run")

    assert "ledger_workevent: 8 rows" in output
    assert "dry run, nothing written" in output
    assert Person.objects.filter(email="alice@example.com").exists()


def test_command_erases_by_identity_value_and_then_finds_nothing_left(
    org: dict[str, Any], settings: Any
) -> None:
    settings.AWU_NOW = "2026-11-23T12:00:00Z"

    first = _command("github:alice-gh")
    again = _command(str(org["alice"].pk))

    assert "changed" in first
    assert "erased-" in first
    assert "nothing to change: already erased" in again
    assert _traces(ALICE_VALUES) == []


def test_command_refuses_an_unknown_person(db: None) -> None:
    with pytest.raises(CommandError, match="no person"):
        _command("nobody@example.com")


def test_audit_rows_that_name_the_person_are_rewritten(org: dict[str, Any]) -> None:
    alice = org["alice"]
    with audit.acting_as(audit.Actor("user", "alice@example.com", "7")):
        audit.record(
            "identity.mapped",
            object_type="identity",
            object_id=1,
            label="github:alice-gh",
            after={"value": "github:alice-gh", "person_name": "Alice Liddell", "note": "ok"},
        )
    audit.record("team.renamed", object_type="team", label="payments", after={"name": "Pay"})

    report = person_erase(person_id=alice.pk, now=NOW)

    assert _traces(ALICE_VALUES) == []
    mapped = AuditEvent.objects.get(action="identity.mapped")
    assert (mapped.actor, mapped.object_label) == (report.pseudonym, report.pseudonym)
    assert mapped.after == {
        "value": report.pseudonym,
        "person_name": report.pseudonym,
        "note": "ok",
    }
    assert AuditEvent.objects.get(action="team.renamed").after == {"name": "Pay"}
    assert report.counts["ledger_auditevent"] == 1


def _flagged_on_audit_row(statement: str, row_id: int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL awu.erasure = 'on'")
        cursor.execute(statement, [row_id])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_auditevent SET reason = 'x' WHERE id = %s",
        "UPDATE ledger_auditevent SET actor = 'mallory' WHERE id = %s",
        "DELETE FROM ledger_auditevent WHERE id = %s",
    ],
)
def test_other_changes_to_an_audit_row_stay_refused_with_the_flag_set(
    org: dict[str, Any], statement: str
) -> None:
    row = audit.record("team.renamed", object_type="team", label="payments")

    with pytest.raises(DatabaseError):
        _flagged_on_audit_row(statement, row.pk)


def test_what_a_directory_sent_about_the_person_is_erased_too(org: dict[str, Any]) -> None:
    alice = org["alice"]
    Person.objects.filter(pk=alice.pk).update(
        user_name="alice@example.com",
        directory_attributes={"phoneNumbers": [{"value": "+44 20 7946 0000"}], "title": "CFO"},
    )

    person_erase(person_id=alice.pk, now=NOW)

    alice.refresh_from_db()
    assert (alice.user_name, alice.directory_attributes) == (None, {})
