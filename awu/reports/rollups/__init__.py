"""The report rollups, kept in step with the ledger and the scoring state.

Every write that changes a rollup queues its keys in the same transaction
(``queues``); a refresh takes the queues, recomputes the UTC days they touch from
the raw tables and adds new usage's sums to its day's and month's rows
(``recompute``, with the statements in ``sql``); ``refresh`` is the job.
"""

from awu.reports.rollups.queues import QUEUES, rollups_forget_actors
from awu.reports.rollups.refresh import (
    LOCK_KEY,
    RefreshStats,
    rollups_behind,
    rollups_ensure_fresh,
    rollups_refresh,
)
from awu.reports.rollups.sql import ROLLUP_TABLES

__all__ = [
    "LOCK_KEY",
    "QUEUES",
    "ROLLUP_TABLES",
    "RefreshStats",
    "rollups_behind",
    "rollups_ensure_fresh",
    "rollups_forget_actors",
    "rollups_refresh",
]
