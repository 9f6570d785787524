"""``purge_dead_letters --older-than DAYS``: retention of raw vendor bodies."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from integrations.models import DeadLetter, IgnoredDeliveries
from ledger.models import Source

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pinned(settings: Any) -> None:
    settings.AWU_NOW = "2026-11-23T12:00:00Z"


@pytest.fixture
def source(db: None) -> Source:
    return Source.objects.create(kind="github", slug="acme")


def _letter(source: Source, days_ago: float) -> DeadLetter:
    return DeadLetter.objects.create(
        source=source,
        vendor="github",
        received_at=NOW - timedelta(days=days_ago),
        body=b'{"sender": {"login": "alice"}}',
        error="pull_request.merged missing",
    )


def _purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_dead_letters", *args, stdout=out)
    return out.getvalue()


def test_letters_older_than_the_limit_are_deleted_and_newer_ones_kept(source: Source) -> None:
    old, recent = _letter(source, 31), _letter(source, 29)

    output = _purge("--older-than", "30")

    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not DeadLetter.objects.filter(pk=old.pk).exists()
    assert "deleted 1 dead letters" in output


def test_ignored_delivery_counters_last_seen_before_the_limit_are_deleted(source: Source) -> None:
    IgnoredDeliveries.objects.create(
        source=source, reason="ping", count=3, last_seen_at=NOW - timedelta(days=40)
    )
    IgnoredDeliveries.objects.create(
        source=source, reason="issues", count=9, last_seen_at=NOW - timedelta(days=1)
    )

    output = _purge("--older-than", "30")

    assert list(IgnoredDeliveries.objects.values_list("reason", flat=True)) == ["issues"]
    assert "and 1 ignored-delivery records" in output


def test_dry_run_counts_and_deletes_nothing(source: Source) -> None:
    _letter(source, 100)
    _letter(source, 200)

    output = _purge("--older-than", "90", "--dry-run")

    assert "would delete 2 dead letters" in output
    assert DeadLetter.objects.count() == 2


def test_a_negative_age_is_refused(source: Source) -> None:
    _letter(source, 1)

    with pytest.raises(CommandError, match="0 or more"):
        _purge("--older-than", "-1")

    assert DeadLetter.objects.count() == 1
