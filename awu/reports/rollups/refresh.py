"""The refresh job, and the freshness check reports make before reading rollups."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import transaction

from awu.reports.rollups import queues, recompute
from awu.reports.rollups.sql import fetch, run
from ledger.replica import primary_reads

# pg_advisory_xact_lock key: one refresh at a time.
LOCK_KEY = 0x4157_5552  # "AWUR"


@dataclass
class RefreshStats:
    full: bool = False
    usage_days: set[date] = field(default_factory=set)  # recomputed whole
    usage_added: int = 0  # new usage records whose sums were added to their day
    entry_days: set[date] = field(default_factory=set)
    unit_days: set[date] = field(default_factory=set)
    units: int = 0
    skipped: bool = False


def rollups_refresh(*, full: bool = False, wait: bool = True) -> RefreshStats:
    """Bring the rollups up to date with everything committed so far.

    Idempotent and safe to run from any number of processes (they take turns on
    an advisory lock). ``full`` (or a first run) rebuilds every rollup from the
    raw tables. With ``wait=False`` a refresh already running elsewhere is not
    waited for: this one is skipped (``stats.skipped``). Returns what was
    recomputed.
    """
    stats = RefreshStats()
    # It reads what it writes: the primary's rows, whoever calls it.
    with primary_reads(), transaction.atomic():
        if wait:
            run("SELECT pg_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})
        elif not fetch("SELECT pg_try_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})[0][0]:
            stats.skipped = True
            return stats
        if full or not fetch("SELECT EXISTS (SELECT 1 FROM reports_rolluprefresh)")[0][0]:
            # What is queued by now is in the raw tables the rebuild reads. Usage
            # queued later is left out of it and added by the next refresh; other
            # changes queued later are recomputed by the next refresh.
            queues.clear()
            recompute.everything_rebuild()
            stats.full = True
        else:
            taken = queues.take()
            stats.units = len(taken.units)
            stats.unit_days = recompute.unit_facts_rewrite(
                sorted({*taken.units, *taken.attributed, *taken.measured})
            )
            stats.entry_days = taken.entry_days
            stats.usage_days = taken.usage_days
            recompute.unit_days_rebuild(stats.unit_days)
            recompute.entry_days_rebuild(stats.entry_days)
            recompute.usage_days_rebuild(stats.usage_days)
            stats.usage_added = recompute.usage_add(stats.usage_days) if taken.usage else 0
            recompute.periods_rebuild("units", stats.unit_days)
            recompute.periods_rebuild("entries", stats.entry_days)
            recompute.periods_rebuild("usage", stats.usage_days)
        run(
            "INSERT INTO reports_rolluprefresh (id, refreshed_at) VALUES (1, now())"
            " ON CONFLICT (id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at"
        )
    return stats


def rollups_behind(*, max_age_seconds: float | None = None) -> bool:
    """True when a change is queued for the rollups, or the last refresh is older
    than the allowed lag (``AWU_REPORTS_MAX_LAG_SECONDS``)."""
    return _probe(max_age_seconds)[0]


_QUEUED = " OR ".join(f"EXISTS (SELECT 1 FROM {queue})" for queue in queues.QUEUES)  # noqa: S608


def _probe(max_age_seconds: float | None = None) -> tuple[bool, bool]:
    """(whether the rollups are behind, whether this session may write): one query."""
    age = settings.AWU_REPORTS_MAX_LAG_SECONDS if max_age_seconds is None else max_age_seconds
    # A read-only session (a hot standby is one) never refreshes.
    behind, writable = fetch(
        f"SELECT {_QUEUED} OR COALESCE((SELECT now() - max(refreshed_at)"  # noqa: S608 - constant SQL
        " > make_interval(secs => %(age)s) FROM reports_rolluprefresh), TRUE),"
        " current_setting('transaction_read_only') = 'off'",
        {"age": age},
    )[0]
    return bool(behind), bool(writable)


def rollups_ensure_fresh() -> None:
    """Refresh first when behind (what a report calls before reading rollups).

    A report never queues behind a refresh that is already running (under a
    steady stream of reports and writes they would pile up, each waiting for the
    one before): it reads the rollups as they stand, at most that one refresh
    behind. With no refresh running it refreshes first, so a client that wrote
    and then asks, alone, always reads its own writes. On a read replica (or any
    read-only session) it never refreshes: the rollups arrive by replication,
    refreshed on the primary by beat.
    """
    behind, writable = _probe()
    if behind and writable:
        rollups_refresh(wait=False)
