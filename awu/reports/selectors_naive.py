"""The reports computed straight from the raw tables, with no rollup.

The reference the rollups are held to (tests compare the two on random data),
the baseline the benchmark measures against, and the path for what rollups
cannot answer: ``as_of`` (entries and units as they stood at a past instant)
and periods that do not start and end on UTC midnights.
"""

from __future__ import annotations

from typing import Any

from awu.reports.measures import rows_from_sides, sides_for
from awu.reports.query import ReportQuery


def efficiency_report_naive(*, query: ReportQuery) -> list[dict[str, Any]]:
    """The efficiency report by GROUP BY over the raw facts (see ``efficiency_report``)."""
    return rows_from_sides(query, sides_for(query, raw=True))
