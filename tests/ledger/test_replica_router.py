"""Which database a query goes to, with and without a replica configured."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import RequestFactory

from ledger.models import ApiKey, WorkEvent
from ledger.replica import ReplicaRouter, read_alias, replica_reads, replica_view

router = ReplicaRouter()
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@pytest.fixture
def with_replica(settings: Any) -> None:
    settings.DATABASES = {**settings.DATABASES, "replica": settings.DATABASES["default"]}


def test_reads_go_to_the_replica_only_inside_a_read_path(with_replica: None) -> None:
    assert router.db_for_read(WorkEvent) == "default"
    with replica_reads():
        assert router.db_for_read(WorkEvent) == "replica"
        assert router.db_for_read(ApiKey) == "replica"
        assert router.db_for_write(WorkEvent) == "default"
    assert read_alias() == "default"


def test_sign_in_sessions_are_always_read_on_the_primary(with_replica: None) -> None:
    with replica_reads():
        assert router.db_for_read(Session) == "default"


def test_without_a_replica_everything_uses_the_primary() -> None:
    with replica_reads():
        assert router.db_for_read(WorkEvent) == "default"
        assert read_alias() == "default"


def test_only_get_and_head_are_served_from_the_replica(with_replica: None) -> None:
    seen: list[str] = []
    view = replica_view(lambda request: seen.append(read_alias()))  # type: ignore[arg-type,return-value]
    for method in ["get", "head", "post", "delete"]:
        view(getattr(RequestFactory(), method)("/"))
    assert seen == ["replica", "replica", "default", "default"]


def test_migrations_run_on_the_primary_only() -> None:
    assert router.allow_migrate("default", "ledger")
    assert not router.allow_migrate("replica", "ledger")
