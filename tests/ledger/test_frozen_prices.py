"""A price entry that has priced usage is frozen: the database refuses edits to it,
the admin shows it read-only and offers "correct this price" instead."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from ledger import ingest
from ledger.models import CostAdjustment, ModelPrice, TokenUsage
from ledger.pricing import entries
from ledger.pricing.book import forget_cached_book
from tests.ledger.factories import usage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
OCT_15 = datetime(2026, 10, 15, tzinfo=UTC)


def sonnet(rate: str = "3", start: datetime = OCT_1) -> ModelPrice:
    row = ModelPrice.objects.create(
        provider="anthropic",
        model="claude-sonnet-4-5",
        match="claude-sonnet-4-5-20*",
        effective_from=start,
        input=Decimal(rate),
        output=Decimal("15"),
    )
    forget_cached_book()
    return row


def priced(day: int = 20) -> TokenUsage:
    record = usage(
        model="claude-sonnet-4-5",
        occurred_at=f"2026-10-{day:02d}T12:00:00Z",
        input_tokens=1000,
        output_tokens=0,
        cache_read_input_tokens=0,
    )
    [result] = ingest.usage_ingest(items=[record], now=NOW)
    row = TokenUsage.objects.get(pk=result.id)
    assert row.price_id is not None
    return row


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        ("UPDATE ledger_modelprice SET input = 4 WHERE id = %s", ()),
        ("UPDATE ledger_modelprice SET output = 16 WHERE id = %s", ()),
        ("UPDATE ledger_modelprice SET match = 'claude-*' WHERE id = %s", ()),
        ("UPDATE ledger_modelprice SET effective_from = %s WHERE id = %s", (OCT_15,)),
        ("UPDATE ledger_modelprice SET model = 'x' WHERE id = %s", ()),
        ("DELETE FROM ledger_modelprice WHERE id = %s", ()),
    ],
)
def test_the_database_refuses_changing_a_price_that_has_priced_usage(
    statement: str, params: tuple[Any, ...]
) -> None:
    row = sonnet()
    priced()

    with pytest.raises(DatabaseError, match="priced usage"), transaction.atomic():
        sql(statement, *params, row.pk)

    row.refresh_from_db()
    assert (row.input, row.match, row.effective_from) == (
        Decimal("3"),
        "claude-sonnet-4-5-20*",
        OCT_1,
    )


def test_an_adjustment_naming_the_price_freezes_it_too() -> None:
    row = sonnet()
    other = sonnet("5", start=datetime(2025, 1, 1, tzinfo=UTC))
    ModelPrice.objects.filter(pk=other.pk).update(match="claude-other-*")
    CostAdjustment.objects.create(
        usage_id=priced().pk, delta_usd=Decimal("0.001"), price=other, reason="t"
    )

    with pytest.raises(DatabaseError, match="frozen"), transaction.atomic():
        sql("UPDATE ledger_modelprice SET input = 9 WHERE id = %s", other.pk)
    assert row.pk  # the first entry priced the record; both are frozen now


def test_its_end_may_be_set_once_from_open() -> None:
    row = sonnet()
    priced()

    sql("UPDATE ledger_modelprice SET effective_to = %s WHERE id = %s", OCT_15, row.pk)

    with pytest.raises(DatabaseError, match="end is set already"), transaction.atomic():
        sql("UPDATE ledger_modelprice SET effective_to = %s WHERE id = %s", NOW, row.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        sql("UPDATE ledger_modelprice SET effective_to = NULL WHERE id = %s", row.pk)
    row.refresh_from_db()
    assert row.effective_to == OCT_15


def test_its_note_may_still_change() -> None:
    row = sonnet()
    priced()

    ModelPrice.objects.filter(pk=row.pk).update(note="list price, checked 2026-11-01")

    row.refresh_from_db()
    assert row.note == "list price, checked 2026-11-01"


def test_a_price_that_priced_nothing_may_still_be_edited() -> None:
    row = sonnet()

    ModelPrice.objects.filter(pk=row.pk).update(input=Decimal("4"), effective_from=OCT_15)

    row.refresh_from_db()
    assert (row.input, row.effective_from) == (Decimal("4"), OCT_15)


def test_a_correction_adds_an_entry_and_ends_the_old_one_there() -> None:
    old = sonnet()
    priced(10)

    new = entries.price_correct(
        row=old, effective_from=OCT_15, rates={"input": Decimal("4")}, reason="raised"
    )

    old.refresh_from_db()
    assert old.effective_to == OCT_15
    assert (old.input, new.input, new.output) == (Decimal("3"), Decimal("4"), Decimal("15"))
    assert (new.effective_from, new.effective_to, new.match) == (OCT_15, None, old.match)


@pytest.mark.parametrize(
    ("start", "message"),
    [(OCT_1, "after the entry's start"), (datetime(2026, 9, 1, tzinfo=UTC), "after")],
)
def test_a_correction_must_start_inside_the_entry(start: datetime, message: str) -> None:
    old = sonnet()

    with pytest.raises(entries.PriceChangeError, match=message):
        entries.price_correct(row=old, effective_from=start, rates={}, reason="why")

    assert ModelPrice.objects.count() == 1


def test_a_correction_needs_a_reason() -> None:
    with pytest.raises(entries.PriceChangeError, match="why"):
        entries.price_correct(row=sonnet(), effective_from=OCT_15, rates={}, reason=" ")


def test_the_admin_shows_a_frozen_price_read_only_with_correct_this_price(
    admin_client: Client,
) -> None:
    row = sonnet()
    priced()

    page = admin_client.get(reverse("admin:ledger_modelprice_change", args=[row.pk]))

    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "input" not in form.fields
    assert "match" not in form.fields
    assert "effective_to" in form.fields  # its end may still be set, once
    assert reverse("admin:ledger_modelprice_correct", args=[row.pk]).encode() in page.content
    assert b"frozen" in page.content


def test_a_forged_admin_post_cannot_change_a_frozen_price(admin_client: Client) -> None:
    row = sonnet()
    priced()

    admin_client.post(
        reverse("admin:ledger_modelprice_change", args=[row.pk]),
        {"input": "99", "output": "99", "match": "*", "note": "n", "source_url": "",
         "effective_to_0": "", "effective_to_1": ""},
    )  # fmt: skip

    row.refresh_from_db()
    assert (row.input, row.output, row.match) == (
        Decimal("3"),
        Decimal("15"),
        "claude-sonnet-4-5-20*",
    )


def test_the_admin_correction_form_refuses_a_start_before_the_entry(admin_client: Client) -> None:
    row = sonnet()
    priced()

    page = admin_client.post(
        reverse("admin:ledger_modelprice_correct", args=[row.pk]),
        {"effective_from": "2026-09-01T00:00:00Z", "reason": "r", "input": "4", "output": "15"},
    )

    assert page.status_code == 200
    assert b"must start after" in page.content
    assert ModelPrice.objects.count() == 1
