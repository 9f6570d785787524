"""Reads from a replica: the ``replica`` database alias, and which requests use it.

With ``DATABASE_REPLICA_URL`` set, the views that only read (reports, listings,
the dashboard, ``/metrics``) are wrapped in ``replica_reads``: inside, the router
sends ORM reads to the replica, and raw SQL asks ``read_connection()`` for its
connection. Writes always go to the primary, and so does anything a request must
see of its own writes (API keys are looked up on the primary: a key just created
works at once). A replica's session is read-only: nothing on these paths writes
(a report there never refreshes the rollups; beat does, on the primary).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
_PRIMARY_ONLY = frozenset({"sessions", "auth", "contenttypes", "admin"})
_reading = ContextVar("awu_replica_reads", default=False)


def read_alias() -> str:
    """The alias reads go to now: the replica inside ``replica_reads``, if one is set."""
    if _reading.get() and REPLICA in settings.DATABASES:
        return REPLICA
    return DEFAULT_DB_ALIAS


def read_connection() -> BaseDatabaseWrapper:
    return connections[read_alias()]


@contextmanager
def replica_reads() -> Iterator[None]:
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Reads on the primary, even inside a read path (a writer reading what it writes)."""
    token = _reading.set(False)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve the view's GET and HEAD requests from the replica; other methods from the primary."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with replica_reads():
            return view(request, *args, **kwargs)

    return wrapped


class ReplicaRouter:
    """ORM reads inside ``replica_reads`` go to the replica; everything else to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        # Sign-in sessions and users: a login must count on the very next page.
        if model._meta.app_label in _PRIMARY_ONLY:
            return DEFAULT_DB_ALIAS
        return read_alias()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
