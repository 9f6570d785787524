"""Ingest: validate a batch, store the valid items once, answer per item.

The hot path is deliberately short: each item is validated in Python (pydantic),
then the whole valid set is written by one SQL statement in one transaction —
idempotency keys claimed with INSERT ... ON CONFLICT DO NOTHING, the records
inserted from the claimed keys, and one scoring outbox row holding their ids. A second query runs only
when some keys were already taken, to tell duplicates from conflicts.

The batch travels as one JSON document (``jsonb_to_recordset``): orjson encodes
it in one C call and PostgreSQL parses it in one pass, where binding a dozen
arrays of a thousand values each costs far more in the driver.

Per item the answer is ``created``, ``duplicate`` (same source + id + canonical
body), ``conflict`` (same key, different body: not stored) or ``invalid`` (with
field errors). Valid items are stored even when others in the batch are not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson
from django.conf import settings
from django.db import connection
from pydantic import BaseModel, ValidationError

from ledger import outbox, sources, teams
from ledger.pricing.book import PriceBook, current_book
from ledger.schemas import TokenUsageIn, WorkEventIn

Status = Literal["created", "duplicate", "conflict", "invalid"]


@dataclass
class ItemResult:
    index: int
    status: Status
    id: int | None = None
    errors: dict[str, list[str]] | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.id is not None:
            out["id"] = self.id
        if self.detail:
            out["detail"] = self.detail
        if self.errors:
            out["errors"] = self.errors
        return out


@dataclass
class _Row:
    """One valid item on its way to the database."""

    index: int
    source_id: int
    external_id: str
    digest: bytes
    values: dict[str, Any]
    result: ItemResult = field(init=False)


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors as {"refs.commit.0": ["reason"]}, the API's error shape."""
    out: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"] if part != "[key]") or "__all__"
        message = error["msg"].removeprefix("Value error, ")
        out.setdefault(path, []).append(message)
    return out


def _digest(model: BaseModel) -> bytes:
    # The canonical body: every field after validation (timestamps normalised to
    # UTC, defaults filled in), keys sorted, source excluded (it is in the key).
    body = model.model_dump(exclude={"source"})
    if body.get("grain") == "request":
        # The default grain leaves the body as it was before records had one, so
        # a record retried across that upgrade is still answered duplicate.
        del body["grain"]
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).digest()


def _validate(
    items: Sequence[Any],
    model: type[BaseModel],
    *,
    check: Callable[[Any], dict[str, list[str]] | None],
) -> tuple[list[tuple[int, Any]], list[ItemResult]]:
    valid: list[tuple[int, Any]] = []
    invalid: list[ItemResult] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            invalid.append(
                ItemResult(
                    index, "invalid", errors={"__all__": ["each item must be a JSON object"]}
                )
            )
            continue
        try:
            parsed = model.model_validate(item)
        except ValidationError as exc:
            invalid.append(ItemResult(index, "invalid", errors=field_errors(exc)))
            continue
        problems = check(parsed)
        if problems:
            invalid.append(ItemResult(index, "invalid", errors=problems))
            continue
        valid.append((index, parsed))
    return valid, invalid


def _future_check(now: datetime) -> Callable[[datetime, str], dict[str, list[str]] | None]:
    limit = now + timedelta(seconds=settings.AWU_MAX_FUTURE_SKEW_SECONDS)

    def check(at: datetime, name: str) -> dict[str, list[str]] | None:
        if at > limit:
            return {
                name: [
                    f"is more than {settings.AWU_MAX_FUTURE_SKEW_SECONDS} s in the future"
                    " (check the clock or the time zone)"
                ]
            }
        return None

    return check


def _settle(
    rows: list[_Row], claimed: dict[tuple[int, str], int], table: str, id_column: str
) -> None:
    """Fill each row's result: created when it claimed its key, else duplicate/conflict."""
    first_by_key: dict[tuple[int, str], _Row] = {}
    unclaimed: list[_Row] = []
    for row in rows:
        key = (row.source_id, row.external_id)
        first = first_by_key.setdefault(key, row)
        if first is not row:
            # The same key twice in one batch: compare with its first occurrence.
            row.result = (
                ItemResult(row.index, "duplicate", id=first.result.id)
                if first.digest == row.digest
                else ItemResult(
                    row.index,
                    "conflict",
                    id=first.result.id,
                    detail="same source and id as item "
                    f"{first.index} of this batch with a different body",
                )
            )
        elif key in claimed:
            row.result = ItemResult(row.index, "created", id=claimed[key])
        else:
            unclaimed.append(row)
            row.result = ItemResult(row.index, "duplicate")  # settled below

    if not unclaimed:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT k.source_id, k.external_id, k.digest, k.{id_column}
            FROM {table} k
            JOIN unnest(%s::bigint[], %s::text[]) AS b(source_id, external_id)
              ON k.source_id = b.source_id AND k.external_id = b.external_id
            """,  # noqa: S608 - table and column names are constants of this module
            [[r.source_id for r in unclaimed], [r.external_id for r in unclaimed]],
        )
        existing = {(s, e): (bytes(d), i) for s, e, d, i in cursor.fetchall()}
    for row in unclaimed:
        digest, record_id = existing[(row.source_id, row.external_id)]
        row.result = (
            ItemResult(row.index, "duplicate", id=record_id)
            if digest == row.digest
            else ItemResult(
                row.index,
                "conflict",
                id=record_id,
                detail="a record with this source and id exists with a different body",
            )
        )
    # Later duplicates of a first occurrence that was itself settled here.
    for row in rows:
        first = first_by_key[(row.source_id, row.external_id)]
        if first is not row and row.result.id is None:
            row.result.id = first.result.id


def _unique_rows(rows: list[_Row]) -> list[_Row]:
    seen: set[tuple[int, str]] = set()
    out = []
    for row in rows:
        key = (row.source_id, row.external_id)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _store(
    rows: list[_Row],
    *,
    sql: str,
    key_table: str,
    id_column: str,
    now: datetime,
) -> int:
    """Run one batch insert statement for ``rows`` and settle their results.

    The statement reads the rows from ``%(rows)s``, a JSON array of objects with
    ``idx``, ``source_id``, ``external_id``, ``digest`` (hex) and each row's
    ``values``. Returns how many records were created.
    """
    document = orjson.dumps(
        [
            {
                "idx": r.index,
                "source_id": r.source_id,
                "external_id": r.external_id,
                "digest": r.digest.hex(),
                **r.values,
            }
            for r in _unique_rows(rows)
        ],
        default=str,  # Decimal money as exact text
    ).decode()
    # One statement is one transaction: the keys, the records and the outbox rows
    # commit together or not at all, with no BEGIN/COMMIT round trips around it.
    # Inside a caller's transaction (a webhook delivery) it joins that one instead.
    with connection.cursor() as cursor:
        cursor.execute(sql, {"rows": document, "received_at": now})
        claimed = {(s, e): i for s, e, i in cursor.fetchall()}
    _settle(rows, claimed, key_table, id_column)
    return len(claimed)


# Both statements number the records in request order (ids follow the batch) but
# claim the keys in key order: concurrent batches that share keys then take them
# in one order and wait for each other instead of deadlocking. (``numbered`` calls
# nextval, a volatile function, so PostgreSQL materialises it in its own order.)
_EVENT_INSERT = """
WITH batch AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS b(
        idx int, source_id bigint, external_id text, digest text, type text,
        occurred_at timestamptz, actor text, team text, subject text, refs jsonb, ai jsonb,
        attributes jsonb)
), numbered AS (
    SELECT source_id, external_id, digest, nextval('ledger_workevent_id_seq'::regclass) AS new_id
    FROM (SELECT * FROM batch ORDER BY idx) ordered
), claimed AS (
    INSERT INTO ledger_eventkey (source_id, external_id, digest, event_id)
    SELECT source_id, external_id, decode(digest, 'hex'), new_id
    FROM numbered ORDER BY source_id, external_id
    ON CONFLICT (source_id, external_id) DO NOTHING
    RETURNING source_id, external_id, event_id
), stored AS (
    INSERT INTO ledger_workevent (id, source_id, external_id, type, occurred_at, received_at,
                                  actor, team, subject, refs, ref_keys, ai, attributes)
    SELECT c.event_id, b.source_id, b.external_id, b.type, b.occurred_at, %(received_at)s,
           b.actor, b.team, b.subject, b.refs,
           ARRAY(SELECT r.key || ':' || v FROM jsonb_each(b.refs) r, jsonb_array_elements_text(r.value) v),
           b.ai, b.attributes
    FROM batch b JOIN claimed c USING (source_id, external_id)
    RETURNING id
), queued AS (
    -- One outbox row for the whole batch (ledger.models.EventOutbox).
    INSERT INTO ledger_eventoutbox (event_ids, created_at)
    SELECT array_agg(id), %(received_at)s FROM stored HAVING count(*) > 0
)
SELECT source_id, external_id, event_id FROM claimed
"""


def _source_ids(slugs: set[str], source_id: int | None) -> dict[str, int]:
    # A webhook names its source by URL (source_id); API clients name theirs in
    # each item and register it on first use.
    if source_id is not None:
        return dict.fromkeys(slugs, source_id)
    return sources.api_source_ids(slugs)


def events_ingest(
    *, items: Sequence[Any], now: datetime, source_id: int | None = None
) -> list[ItemResult]:
    """Store the valid work events of a batch; results in request order.

    Valid items are written in one transaction with their outbox rows, so scoring
    sees every stored event exactly once. Raises nothing for bad items: they are
    answered ``invalid``. A database failure raises and nothing is written.
    ``source_id`` stores every item under that source (webhooks) instead of the
    API source each item names.
    """
    future = _future_check(now)
    valid, results = _validate(
        items, WorkEventIn, check=lambda e: future(e.occurred_at, "occurred_at")
    )
    if valid:
        source_ids = _source_ids({e.source for _, e in valid}, source_id)
        teams.teams_discover(e.team for _, e in valid)
        rows: list[_Row] = []
        for index, event in valid:
            rows.append(
                _Row(
                    index=index,
                    source_id=source_ids[event.source],
                    external_id=event.id,
                    digest=_digest(event),
                    values={
                        "type": event.type,
                        "occurred_at": event.occurred_at,
                        "actor": event.actor,
                        "team": event.team,
                        "subject": event.subject,
                        "refs": event.refs,
                        "ai": event.ai.model_dump(exclude_none=True) if event.ai else None,
                        "attributes": event.attributes,
                    },
                )
            )
        created = _store(
            rows,
            sql=_EVENT_INSERT,
            key_table="ledger_eventkey",
            id_column="event_id",
            now=now,
        )
        if created:
            outbox.wake_after_commit()
        results.extend(r.result for r in rows)
    results.sort(key=lambda r: r.index)
    return results


_USAGE_INSERT = """
WITH batch AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS b(
        idx int, source_id bigint, external_id text, digest text, occurred_at timestamptz,
        period_end timestamptz, actor text, team text, provider text, model text, input bigint,
        output bigint, cache_write bigint, cache_write_1h bigint, cache_read bigint,
        cost numeric, cost_source text, price_id bigint, grain text, refs jsonb, attributes jsonb)
), numbered AS (
    SELECT source_id, external_id, digest, nextval('ledger_tokenusage_id_seq'::regclass) AS new_id
    FROM (SELECT * FROM batch ORDER BY idx) ordered
), claimed AS (
    INSERT INTO ledger_usagekey (source_id, external_id, digest, usage_id)
    SELECT source_id, external_id, decode(digest, 'hex'), new_id
    FROM numbered ORDER BY source_id, external_id
    ON CONFLICT (source_id, external_id) DO NOTHING
    RETURNING source_id, external_id, usage_id
), stored AS (
    INSERT INTO ledger_tokenusage (id, source_id, external_id, occurred_at, period_end,
        received_at, actor, team, provider, model, input_tokens, output_tokens,
        cache_creation_input_tokens, cache_creation_1h_input_tokens, cache_read_input_tokens,
        cost_usd, cost_source, price_id, grain, refs, ref_keys, attributes)
    SELECT c.usage_id, b.source_id, b.external_id, b.occurred_at, b.period_end, %(received_at)s,
           b.actor, b.team, b.provider, b.model, b.input, b.output, b.cache_write,
           b.cache_write_1h, b.cache_read, b.cost, b.cost_source, b.price_id, b.grain, b.refs,
           ARRAY(SELECT r.key || ':' || v FROM jsonb_each(b.refs) r, jsonb_array_elements_text(r.value) v),
           b.attributes
    FROM batch b JOIN claimed c USING (source_id, external_id)
)
SELECT source_id, external_id, usage_id FROM claimed
"""


def usage_ingest(
    *, items: Sequence[Any], now: datetime, source_id: int | None = None
) -> list[ItemResult]:
    """Store the valid token-usage records of a batch; results in request order.

    A reported ``cost_usd`` is kept as is (``reported``). Without one the record is
    priced from the price book entry in force at its time (``computed``, with the
    entry recorded); with no matching entry it is stored ``unpriced``, cost NULL.
    """
    future = _future_check(now)
    valid, results = _validate(
        items,
        TokenUsageIn,
        check=lambda u: future(u.at, "occurred_at" if u.occurred_at else "period_start"),
    )
    if valid:
        source_ids = _source_ids({u.source for _, u in valid}, source_id)
        teams.teams_discover(u.team for _, u in valid)
        book = current_book()
        rows: list[_Row] = []
        for index, usage in valid:
            cost, cost_source, price_id = _cost(book, usage)
            rows.append(
                _Row(
                    index=index,
                    source_id=source_ids[usage.source],
                    external_id=usage.id,
                    digest=_digest(usage),
                    values={
                        "occurred_at": usage.at,
                        "period_end": usage.period_end,
                        "actor": usage.actor,
                        "team": usage.team,
                        "provider": usage.provider,
                        "model": usage.model,
                        "input": usage.input_tokens,
                        "output": usage.output_tokens,
                        "cache_write": usage.cache_creation_input_tokens,
                        "cache_write_1h": usage.cache_creation_1h_input_tokens,
                        "cache_read": usage.cache_read_input_tokens,
                        "cost": cost,
                        "cost_source": cost_source,
                        "price_id": price_id,
                        "grain": usage.grain,
                        "refs": usage.refs,
                        "attributes": usage.attributes,
                    },
                )
            )
        _store(
            rows,
            sql=_USAGE_INSERT,
            key_table="ledger_usagekey",
            id_column="usage_id",
            now=now,
        )
        results.extend(r.result for r in rows)
    results.sort(key=lambda r: r.index)
    return results


def _cost(book: PriceBook, usage: TokenUsageIn) -> tuple[Decimal | None, str, int | None]:
    if usage.cost_usd is not None:
        return usage.cost_usd, "reported", None
    priced = book.cost(
        provider=usage.provider,
        model=usage.model,
        at=usage.at,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cache_creation_1h_input_tokens=usage.cache_creation_1h_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        bucket=usage.period_start is not None,
    )
    if priced is None:
        return None, "unpriced", None
    return priced[0], "computed", priced[1]
