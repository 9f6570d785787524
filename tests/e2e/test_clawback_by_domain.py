"""Every shipped definition can be clawed back late, through the real worker.

For each domain: a story whose window had already closed when it arrived (a
backfill) settles as it is scored, completed (+1); then the event that undoes
it arrives, late but having occurred inside the window, and the unit is voided
(-1). Engineering's own story is in test_scoring_pipeline.py (every broker).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from awu.scoring.models import WorkUnit
from tests.e2e import stories
from tests.e2e.conftest import Stack, wait_for
from tests.e2e.test_scoring_pipeline import entries, settle_and_check, unit_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Story = Callable[[str, datetime], list[dict[str, Any]]]

# domain -> (trigger type, the story with its undoing event last)
DOMAINS: dict[str, tuple[str, Story]] = {
    "engineering": (
        "code.pr.merged",
        lambda tag, start: stories.durable_change(
            tag, start, deploy_after=1, disqualifier="revert", disqualify_after=20
        ),
    ),
    "sales": (
        "crm.opportunity.stage_changed",
        # 1 -> 3 on day 0, then back to 2 on day 3: below the stage reached.
        lambda tag, start: stories.deal(tag, start, orders=[1, 3, 2]),
    ),
    "legal": (
        "contract.signed",
        lambda tag, start: stories.contract(tag, start, cancel_after=12),
    ),
    "support": (
        "ticket.resolved",
        lambda tag, start: stories.ticket(tag, start, reopen_after=3),
    ),
    "marketing": (
        "content.published",
        lambda tag, start: stories.content(tag, start, visits=[1500], unpublish_after=10),
    ),
}


def _completed(tag: str, trigger_type: str) -> WorkUnit | None:
    unit = unit_for(tag, trigger_type)
    return unit if unit is not None and unit.state == "completed" else None


@pytest.mark.parametrize("broker", ["filesystem"], indirect=True)
@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_completed_unit_is_clawed_back_by_a_late_disqualifier(stack: Stack, domain: str) -> None:
    trigger_type, story = DOMAINS[domain]
    tag = f"claw-{domain}"
    events = story(tag, datetime.now(UTC) - timedelta(days=90))

    stack.post(events[:-1])  # every window closed long ago: settles as scored
    unit = wait_for(lambda: _completed(tag, trigger_type), what=f"the {domain} unit to complete")
    assert entries(unit) == [Decimal(1)]

    stack.post(events[-1:])  # undone inside the window, reported only now
    wait_for(
        lambda: unit_for(tag, trigger_type).state == "voided",  # type: ignore[union-attr]
        what=f"the late {events[-1]['type']} to void the {domain} unit",
    )
    assert entries(unit) == [Decimal(1), Decimal(-1)]
    settle_and_check()
