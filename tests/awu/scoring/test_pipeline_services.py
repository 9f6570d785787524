"""The scoring pipeline's services against the real database, without workers."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from awu.definitions.defaults import durable_change as durable_default
from awu.definitions.models import Definition, DefinitionVersion
from awu.definitions.services import (
    FrozenVersion,
    definition_publish,
    definitions_install_defaults,
    version_draft_from,
    version_update,
)
from awu.scoring import evidence, published, services, settle
from awu.scoring.models import AwuEntry, WorkUnit
from ledger.ingest import events_ingest
from ledger.models import EventOutbox, Identity, Membership, Person, Team
from tests.conftest import approval_off
from tests.e2e import stories
from tests.e2e.checks import assert_ledger_consistent, assert_matches_engine

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PAST = NOW - timedelta(days=90)


@pytest.fixture(autouse=True)
def _no_wakeups(settings: Any) -> None:
    # These tests drive the services directly; no broker is involved.
    settings.AWU_OUTBOX_WAKE_TASK = ""


@pytest.fixture(autouse=True)
def _publish_without_approval(db: None) -> None:
    # Publishing and rescoring themselves; four eyes: tests/awu/definitions/test_four_eyes.py.
    approval_off()


@pytest.fixture
def defaults(db: None) -> None:
    definitions_install_defaults(now=PAST - timedelta(days=365))


def ingest(events: list[dict[str, Any]], now: datetime = NOW) -> None:
    for start in range(0, len(events), 1000):
        results = events_ingest(items=events[start : start + 1000], now=now)
        assert {r.status for r in results} <= {"created", "duplicate"}, results


def drain(now: datetime = NOW, batch_size: int = 1000) -> int:
    return services.outbox_drain(clock=lambda: now, batch_size=batch_size).events


def unit_of(tag: str, event_type: str = "code.pr.merged") -> WorkUnit:
    return WorkUnit.objects.get(
        trigger_event_id__in=_event_ids(tag, event_type), superseded_at__isnull=True
    )


def _event_ids(tag: str, event_type: str) -> list[int]:
    from ledger.models import WorkEvent

    return list(
        WorkEvent.objects.filter(external_id__startswith=f"{tag}-", type=event_type).values_list(
            "id", flat=True
        )
    )


def entries_of(unit: WorkUnit) -> list[Decimal]:
    return [e.delta for e in AwuEntry.objects.filter(unit=unit).order_by("id")]


def test_merged_and_deployed_change_completes_once_its_window_has_passed(defaults: None) -> None:
    ingest(stories.durable_change("a", NOW - timedelta(days=60), deploy_after=1))
    drain()
    unit = unit_of("a")
    assert unit.state == "completed"
    assert unit.completed_at == NOW - timedelta(days=60) + timedelta(days=31)
    assert entries_of(unit) == [Decimal(1)]


def test_change_inside_its_window_stays_pending_until_the_sweep_after_it_closes(
    defaults: None,
) -> None:
    ingest(stories.durable_change("a", NOW - timedelta(days=10), deploy_after=1))
    drain()
    unit = unit_of("a")
    assert unit.state == "pending"
    assert unit.closes_at == NOW + timedelta(days=21)
    assert services.sweep(now=NOW + timedelta(days=20)) == 0
    assert services.sweep(now=NOW + timedelta(days=21)) == 1
    unit.refresh_from_db()
    assert unit.state == "completed"
    assert unit.closes_at is None
    assert entries_of(unit) == [Decimal(1)]


def test_late_disqualifier_that_occurred_inside_the_window_voids_with_a_negative_entry(
    defaults: None,
) -> None:
    story = stories.durable_change(
        "a", NOW - timedelta(days=60), disqualifier="incident", disqualify_after=20
    )
    ingest(story[:-1])
    drain()
    assert unit_of("a").state == "completed"
    ingest(story[-1:])
    drain()
    unit = unit_of("a")
    assert unit.state == "voided"
    assert "incident.attributed" in (unit.reason or "")
    assert entries_of(unit) == [Decimal(1), Decimal(-1)]
    negative = AwuEntry.objects.get(unit=unit, delta__lt=0)
    assert negative.effective_at == NOW - timedelta(days=40)


def test_rollback_naming_only_the_deploy_voids_through_the_carried_ref(defaults: None) -> None:
    story = stories.durable_change(
        "a", NOW - timedelta(days=60), disqualifier="rollback", disqualify_after=3
    )
    for event in story:  # one batch each: the rollback comes after the deploy was scored
        ingest([event])
        drain()
    assert unit_of("a").state == "voided"


def test_trigger_whose_condition_does_not_hold_makes_no_unit(defaults: None) -> None:
    story = stories.durable_change("a", NOW - timedelta(days=60))
    story[0]["attributes"]["base_branch"] = "feature/x"
    ingest(story)
    drain()
    assert not WorkUnit.objects.exists()


def test_pipeline_equals_the_engine_over_all_events_whatever_the_arrival_order(
    defaults: None,
) -> None:
    events = stories.mix(count=600, now=NOW, seed=3)
    random.Random(5).shuffle(events)
    for start in range(0, len(events), 70):
        ingest(events[start : start + 70])
        drain(batch_size=45)
    assert_matches_engine(NOW)


def test_redelivered_events_change_nothing(defaults: None) -> None:
    events = stories.mix(count=200, now=NOW, seed=4)
    ingest(events)
    drain()
    before = list(AwuEntry.objects.order_by("id").values_list("id", "delta"))
    ingest(events)
    EventOutbox.objects.create(event_ids=list(_event_ids("s4-1", "code.pr.merged")))
    drain()
    assert list(AwuEntry.objects.order_by("id").values_list("id", "delta")) == before
    assert_matches_engine(NOW)


def test_scoring_a_batch_takes_a_bounded_number_of_queries(
    defaults: None, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    ingest(stories.mix(count=400, now=NOW, seed=6))
    with django_assert_max_num_queries(25):
        assert services.score_pending(now=NOW, batch_size=1000) == 400


@pytest.mark.parametrize(
    ("story", "trigger_type", "completes_after"),
    [
        (lambda start: stories.contract("old", start), "contract.signed", 30),
        (lambda start: stories.ticket("old", start), "ticket.resolved", 7),
        (lambda start: stories.content("old", start, visits=[1200]), "content.published", 31),
        (
            lambda start: stories.deal("old", start, orders=[1, 2]),
            "crm.opportunity.stage_changed",
            14,
        ),
    ],
)
def test_a_backfilled_unit_whose_window_has_closed_settles_in_the_pass_that_scores_it(
    defaults: None, story: Any, trigger_type: str, completes_after: int
) -> None:
    start = NOW - timedelta(days=90)
    ingest(story(start))
    drain()
    unit = unit_of("old", trigger_type)
    assert (unit.state, unit.closes_at) == ("completed", None)
    assert unit.completed_at == start + timedelta(days=completes_after)
    assert AwuEntry.objects.get(unit=unit).effective_at == unit.completed_at


def test_sweep_also_scores_what_a_lost_wakeup_left_in_the_outbox(defaults: None) -> None:
    ingest(stories.contract("k", NOW - timedelta(days=40)))
    services.sweep(now=NOW)
    assert unit_of("k", "contract.signed").state == "completed"
    assert not EventOutbox.objects.exists()


def test_unit_is_attributed_to_the_actors_team_at_the_trigger_time(defaults: None) -> None:
    person = Person.objects.create(name="Alice")
    Identity.objects.create(value="alice@example.com", person=person)
    old, new = (
        Team.objects.create(slug="old", name="Old"),
        Team.objects.create(slug="new", name="New"),
    )
    switch = NOW - timedelta(days=30)
    Membership.objects.create(person=person, team=old, valid_from=PAST, valid_to=switch)
    Membership.objects.create(person=person, team=new, valid_from=switch)
    ingest(stories.durable_change("a", NOW - timedelta(days=60)))
    drain()
    unit = unit_of("a")
    assert (unit.person_id, unit.team_id) == (person.pk, old.pk)
    assert AwuEntry.objects.get(unit=unit).team_id == old.pk


def test_team_named_by_the_trigger_wins_over_membership(defaults: None) -> None:
    person = Person.objects.create(name="Alice")
    Identity.objects.create(value="alice@example.com", person=person)
    home = Team.objects.create(slug="home", name="Home")
    named = Team.objects.create(slug="payments", name="Payments")
    Membership.objects.create(person=person, team=home, valid_from=PAST - timedelta(days=30))
    story = stories.durable_change("a", NOW - timedelta(days=60))
    story[0]["team"] = "payments"
    ingest(story)
    drain()
    assert unit_of("a").team_id == named.pk


def test_new_version_governs_triggers_from_its_publication_only(defaults: None) -> None:
    v1 = DefinitionVersion.objects.get(definition__key="contract-signed")
    published_at = NOW - timedelta(days=45)  # both signatures' windows have closed
    draft = version_draft_from(version=v1)
    version_update(version=draft, units="2")
    definition_publish(version=draft, now=published_at)
    ingest(stories.contract("old", published_at - timedelta(days=1)))
    ingest(stories.contract("new", published_at + timedelta(days=1)))
    drain()
    assert unit_of("old", "contract.signed").version_id == v1.pk
    new = unit_of("new", "contract.signed")
    assert (new.version_id, new.credited) == (draft.pk, Decimal(2))


def test_rescore_supersedes_older_units_and_never_touches_their_entries(defaults: None) -> None:
    ingest(stories.contract("a", NOW - timedelta(days=40)))
    ingest(stories.contract("b", NOW - timedelta(days=10)))
    drain()
    before = list(
        AwuEntry.objects.order_by("id").values_list("id", "unit_id", "delta", "created_at")
    )
    definition = Definition.objects.get(key="contract-signed")
    later = NOW + timedelta(hours=1)

    result = services.definition_rescore(
        definition=definition, now=later, covers_from=NOW - timedelta(days=20)
    )

    assert result.version.version == 2
    assert result.superseded == 1
    assert (
        list(AwuEntry.objects.order_by("id").values_list("id", "unit_id", "delta", "created_at"))[
            : len(before)
        ]
        == before
    )
    old_b = WorkUnit.objects.get(
        version__version=1, trigger_event_id__in=_event_ids("b", "contract.signed")
    )
    assert (old_b.superseded_at, old_b.superseded_by_id) == (later, result.version.pk)
    assert unit_of("b", "contract.signed").version_id == result.version.pk
    assert unit_of("a", "contract.signed").version.version == 1  # before --from: untouched
    assert_ledger_consistent()


def test_published_version_refuses_edits(defaults: None) -> None:
    version = DefinitionVersion.objects.get(definition__key="resolution")
    with pytest.raises(FrozenVersion):
        version_update(version=version, survive_days=3)


def test_database_refuses_changing_a_published_versions_rules(defaults: None) -> None:
    version = DefinitionVersion.objects.get(definition__key="resolution")
    with pytest.raises(DatabaseError, match="frozen"), transaction.atomic():
        DefinitionVersion.objects.filter(pk=version.pk).update(survive_days=3)


def test_database_refuses_updating_or_deleting_awu_entries(defaults: None) -> None:
    ingest(stories.contract("k", NOW - timedelta(days=40)))
    drain()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AwuEntry.objects.update(delta=5)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AwuEntry.objects.all().delete()


# --- Concurrency: two database connections at once -----------------------------------


def _in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_the_same_outbox_never_double_count() -> None:
    definitions_install_defaults(now=PAST - timedelta(days=365))
    ingest(stories.mix(count=1500, now=NOW, seed=11))
    claimed = _in_threads(2, lambda: drain(batch_size=100))
    assert sum(claimed) == 1500
    assert_matches_engine(NOW)


def test_a_pass_ending_inside_a_batch_writes_the_rest_back_for_the_next(
    defaults: None,
) -> None:
    events = stories.mix(count=30, now=NOW, seed=12)
    ingest(events[:20])
    ingest(events[20:])
    [first, second] = EventOutbox.objects.order_by("id").values_list("event_ids", flat=True)
    assert (len(first), len(second)) == (20, 10)

    assert services.score_pending(now=NOW, batch_size=15) == 15
    # The first row's last five events wait in that row; nothing else changed.
    assert list(EventOutbox.objects.order_by("id").values_list("event_ids", flat=True)) == [
        sorted(first)[15:],
        second,
    ]
    assert services.score_pending(now=NOW, batch_size=15) == 15
    assert not EventOutbox.objects.exists()
    assert services.score_pending(now=NOW, batch_size=15) == 0
    assert_matches_engine(NOW)


@pytest.mark.django_db(transaction=True)
def test_a_pass_claims_rows_past_those_another_worker_holds() -> None:
    definitions_install_defaults(now=PAST - timedelta(days=365))
    ingest(stories.mix(count=10, now=NOW, seed=13))
    ingest(stories.mix(count=10, now=NOW, seed=14))
    held, free = EventOutbox.objects.order_by("id").values_list("id", "event_ids")
    other = connection.copy()  # type: ignore[attr-defined]
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT 1 FROM ledger_eventoutbox WHERE id = %s FOR UPDATE", [held[0]])
            # The first ten events' row is held: the pass takes the next row.
            assert services.score_pending(now=NOW, batch_size=10) == len(free[1])
            cursor.execute("ROLLBACK")
    finally:
        other.close()
    assert list(EventOutbox.objects.values_list("id", flat=True)) == [held[0]]


@pytest.mark.django_db(transaction=True)
def test_two_beats_sweeping_at_once_settle_every_unit_once() -> None:
    definitions_install_defaults(now=PAST - timedelta(days=365))
    ingest(stories.mix(count=600, now=NOW, seed=5))
    later = NOW + timedelta(days=60)  # every window closed

    _in_threads(2, lambda: services.sweep(now=later))

    assert_matches_engine(later)


@pytest.mark.django_db(transaction=True)
def test_two_passes_settling_the_same_unit_at_once_credit_it_once() -> None:
    definitions_install_defaults(now=PAST - timedelta(days=365))
    ingest(stories.durable_change("a", NOW - timedelta(days=10)))
    drain()
    unit = unit_of("a")
    assert unit.state == "pending"
    later = NOW + timedelta(days=30)
    first_settled = threading.Event()

    def settle_once(first: bool) -> None:
        if not first:
            first_settled.wait(10)
        with transaction.atomic():
            settle.settle_units(
                [(unit.version_id, unit.trigger_event_id)],
                catalog=published.load_catalog(),
                now=later,
                pool=evidence.Pool(),
                existing=[(unit.version_id, unit.trigger_event_id)],
            )
            if first:
                # Hold the transaction open while the second pass reads the unit.
                first_settled.set()
                time.sleep(0.5)

    turn = iter([True, False])
    lock = threading.Lock()

    def work() -> None:
        with lock:
            first = next(turn)
        settle_once(first)

    _in_threads(2, work)
    unit.refresh_from_db()
    assert unit.state == "completed"
    assert entries_of(unit) == [Decimal(1)]


def test_shipped_durable_change_definition_is_what_gets_installed(defaults: None) -> None:
    version = DefinitionVersion.objects.get(definition__key="durable-change")
    assert version.spec() == durable_default().spec


def test_score_now_command_scores_the_outbox_and_prints_counts(
    defaults: None, settings: Any
) -> None:
    settings.AWU_NOW = "2026-11-23T12:00:00Z"
    ingest(stories.contract("k", NOW - timedelta(days=40)))
    out = io.StringIO()
    call_command("score_now", stdout=out)
    assert "Scored 1 events" in out.getvalue()
    assert "completed 1" in out.getvalue()


def test_rescore_command_replays_history_into_a_new_version(defaults: None, settings: Any) -> None:
    settings.AWU_NOW = "2026-11-23T12:00:00Z"
    ingest(stories.contract("k", NOW - timedelta(days=1)))
    drain()
    out = io.StringIO()
    call_command("rescore", "contract-signed", "--from", "2026-01-01", stdout=out, verbosity=0)
    assert "Published contract-signed v2" in out.getvalue()
    assert unit_of("k", "contract.signed").version.version == 2
