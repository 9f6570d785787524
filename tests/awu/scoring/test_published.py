"""The compiled rules of published versions, kept per process."""

from __future__ import annotations

from datetime import UTC, datetime

from awu.definitions.models import DefinitionVersion
from awu.scoring.published import _compile


def version(pk: int, trigger_type: str, published_at: datetime) -> DefinitionVersion:
    return DefinitionVersion(
        pk=pk,
        version=1,
        trigger_type=trigger_type,
        survive_days=0,
        units="1",
        status=DefinitionVersion.Status.PUBLISHED,
        published_at=published_at,
    )


def test_an_id_that_names_another_publication_gets_its_own_rules() -> None:
    # A database recreated or restored under a running process starts its ids over.
    first = _compile(version(987_654, "contract.signed", datetime(2026, 1, 1, tzinfo=UTC)))
    later = _compile(version(987_654, "ticket.resolved", datetime(2026, 2, 1, tzinfo=UTC)))
    assert first is not None
    assert later is not None
    assert first.spec.trigger_type == "contract.signed"
    assert later.spec.trigger_type == "ticket.resolved"


def test_the_same_publication_is_compiled_once() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    assert _compile(version(987_655, "contract.signed", at)) is _compile(
        version(987_655, "contract.signed", at)
    )
