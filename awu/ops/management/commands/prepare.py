"""``manage.py prepare``: the database a server needs, before web, worker and beat start.

Migrates, then installs the shipped price book and the shipped AWU definitions.
Idempotent, for deploy pipelines to run on every release; a second run changes
nothing and says so. It starts no process, creates no user and no API key, and
prints no secret. ``manage.py up`` prepares through this command too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor

from awu.definitions.defaults import DEFAULT_DEFINITIONS
from awu.definitions.services import definitions_install_defaults
from ledger import audit, clock
from ledger.pricing.book import install_published_prices


@dataclass(frozen=True)
class Preparation:
    migrations_applied: int
    prices_installed: int
    prices_present: int
    definitions_installed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.migrations_applied or self.prices_installed or self.definitions_installed)


@contextmanager
def _one_at_a_time() -> Iterator[None]:
    # Deploy jobs of several replicas may start together, and two migrates at once
    # fail halfway; a session advisory lock makes the later ones wait, then find
    # nothing to do.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('awu prepare'))")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext('awu prepare'))")


def database_prepare(*, now: datetime) -> Preparation:
    """Migrate, then install the shipped price book (ledger/pricebook/prices.json)
    and the shipped AWU definitions that are missing.

    Idempotent: present prices and definitions are left as they are, so edits made
    in the admin are kept, and a second run changes nothing. Concurrent runs wait
    for each other. Creates no user and no API key. Raises OperationalError when
    the database cannot be reached.
    """
    with _one_at_a_time():
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        call_command("migrate", interactive=False, verbosity=0)
        installed, present = install_published_prices()
        definitions = definitions_install_defaults(now=now)
    return Preparation(
        migrations_applied=len(pending),
        prices_installed=installed,
        prices_present=present,
        definitions_installed=tuple(definitions),
    )


class Command(audit.OperatorCommand):
    help = (
        "Prepare the database for web, worker and beat: migrate, install the shipped "
        "prices and AWU definitions. Idempotent; starts nothing, creates no user or key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = database_prepare(now=clock.now())
        except OperationalError as exc:
            raise CommandError(f"the database cannot be reached: {exc}".strip()) from exc
        if options["verbosity"] == 0:
            return
        shipped = len(DEFAULT_DEFINITIONS)
        kept = shipped - len(done.definitions_installed)
        out = self.stdout.write
        out(
            f"Migrations: {done.migrations_applied} applied."
            if done.migrations_applied
            else "Migrations: none to apply."
        )
        out(
            f"Prices: {done.prices_installed} shipped entries installed, "
            f"{done.prices_present} already there."
        )
        out(
            f"Definitions: {len(done.definitions_installed)} installed "
            f"({', '.join(done.definitions_installed)}), {kept} already there."
            if done.definitions_installed
            else f"Definitions: all {shipped} shipped definitions already there."
        )
        out(
            "The database is prepared."
            if done.changed
            else "Nothing changed: the database was already prepared."
        )
