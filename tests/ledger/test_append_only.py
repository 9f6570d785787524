"""Append-only is enforced by PostgreSQL: UPDATE and DELETE on ledger tables raise.

Each refused statement runs inside its own ``transaction.atomic()`` so the
savepoint rolls back and the test's transaction stays usable.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection, models, transaction

from ledger.models import CostAdjustment, EventKey, TokenUsage, UsageKey, WorkEvent
from tests.ledger.factories import event, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger_rows(api: Any, pinned_clock: str) -> dict[type[models.Model], models.Model]:
    """One stored row of every append-only table, written through the ingest API."""
    api("events:write").post("/api/v1/events", event())
    writer = api("usage:write")
    plain = writer.post("/api/v1/token-usage", usage(cost_usd="0.5")).json()["results"][0]["id"]
    adjusted = writer.post("/api/v1/token-usage", usage(cost_usd="0.7")).json()["results"][0]
    adjustment = CostAdjustment.objects.create(
        usage_id=adjusted["id"], delta_usd=Decimal("-0.1"), reason="list price correction"
    )
    return {
        WorkEvent: WorkEvent.objects.get(),
        EventKey: EventKey.objects.get(),
        # Without adjustments, so Django's PROTECT check lets a delete reach the database.
        TokenUsage: TokenUsage.objects.get(pk=plain),
        UsageKey: UsageKey.objects.get(usage_id=plain),
        CostAdjustment: adjustment,
    }


APPEND_ONLY = [WorkEvent, EventKey, TokenUsage, UsageKey, CostAdjustment]
_ids = [m.__name__ for m in APPEND_ONLY]


def refused(action: Callable[[], Any]) -> str:
    """Run ``action`` in a savepoint and return the database's refusal message."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        action()
    return str(caught.value)


def raw(sql: str, params: list[Any]) -> Callable[[], None]:
    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    return run


def _pk_where(row: models.Model) -> tuple[str, list[object]]:
    """A WHERE clause matching ``row`` by its primary key (single or composite)."""
    fields = row._meta.pk_fields
    clause = " AND ".join(f"{field.column} = %s" for field in fields)
    return clause, [getattr(row, field.attname) for field in fields]


@pytest.mark.parametrize("model", APPEND_ONLY, ids=_ids)
def test_raw_sql_update_is_refused(
    ledger_rows: dict[type[models.Model], models.Model], model: type[models.Model]
) -> None:
    row = ledger_rows[model]
    table = model._meta.db_table

    where, params = _pk_where(row)
    column = where.split(" ")[0]
    message = refused(raw(f"UPDATE {table} SET {column} = {column} WHERE {where}", params))  # noqa: S608

    assert "append-only" in message


@pytest.mark.parametrize("model", APPEND_ONLY, ids=_ids)
def test_raw_sql_delete_is_refused(
    ledger_rows: dict[type[models.Model], models.Model], model: type[models.Model]
) -> None:
    row = ledger_rows[model]
    table = model._meta.db_table

    where, params = _pk_where(row)
    message = refused(raw(f"DELETE FROM {table} WHERE {where}", params))  # noqa: S608

    assert "append-only" in message


@pytest.mark.parametrize("model", APPEND_ONLY, ids=_ids)
def test_orm_queryset_update_is_refused(
    ledger_rows: dict[type[models.Model], models.Model], model: type[models.Model]
) -> None:
    row = ledger_rows[model]

    # Rewrite a column with its own value: still an UPDATE, still refused.
    column = row._meta.pk_fields[0].attname
    message = refused(
        lambda: model.objects.filter(pk=row.pk).update(**{column: getattr(row, column)})
    )

    assert "append-only" in message


@pytest.mark.parametrize("model", APPEND_ONLY, ids=_ids)
def test_orm_save_of_a_stored_row_is_refused(
    ledger_rows: dict[type[models.Model], models.Model], model: type[models.Model]
) -> None:
    row = ledger_rows[model]

    message = refused(row.save)

    assert "append-only" in message


@pytest.mark.parametrize("model", APPEND_ONLY, ids=_ids)
def test_orm_queryset_delete_is_refused(
    ledger_rows: dict[type[models.Model], models.Model], model: type[models.Model]
) -> None:
    row = ledger_rows[model]

    message = refused(lambda: model.objects.filter(pk=row.pk).delete())

    assert "append-only" in message


def test_stored_event_is_unchanged_after_refused_writes(
    ledger_rows: dict[type[models.Model], models.Model],
) -> None:
    stored = ledger_rows[WorkEvent]
    refused(lambda: WorkEvent.objects.filter(pk=stored.pk).update(type="x.tampered"))
    refused(lambda: WorkEvent.objects.filter(pk=stored.pk).delete())

    assert WorkEvent.objects.get().type == "deploy.succeeded"


def test_refusal_is_reported_as_insufficient_privilege(
    ledger_rows: dict[type[models.Model], models.Model],
) -> None:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        WorkEvent.objects.update(type="x.tampered")

    assert isinstance(caught.value.__cause__, psycopg.errors.InsufficientPrivilege)


def test_inserts_remain_allowed(ledger_rows: dict[type[models.Model], models.Model]) -> None:
    spent = ledger_rows[TokenUsage]

    CostAdjustment.objects.create(usage_id=spent.id, delta_usd=Decimal("0.02"), reason="a fix")

    assert CostAdjustment.objects.count() == 2
