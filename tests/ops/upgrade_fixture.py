"""Refresh the upgrade fixture: a database made by the previous release.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m tests.ops.upgrade_fixture [--release COMMIT]

Checks the release out into a temporary git worktree, and with that code:
migrates a fresh database, builds the drill ledger (tests/ops/drill_ledger.py:
only stable operator commands) and asks the report questions through its own
web server. Writes, under tests/fixtures/upgrade/:

* ``previous-release.dump``: ``pg_dump --format=custom`` of that database (use
  the oldest PostgreSQL the product supports, 15, so every newer pg_restore
  reads it);
* ``previous-release.json``: the release's commit, the pg_dump version, the
  questions and the answers it gave.

tests/ops/test_upgrade_path.py restores the dump into an empty database, runs
``migrate`` with the current code and asks the same questions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from tests.ops import drill_ledger, pgtools

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "upgrade"
PREVIOUS_RELEASE = "d553dc9"  # the release before the restore drill and the upgrade test
DATABASE = "awu_upgrade_fixture"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def refresh(release: str, base_url: str) -> dict[str, object]:
    commit = git("rev-parse", f"{release}^{{commit}}")
    work = Path(tempfile.mkdtemp(prefix="awu-release-"))
    checkout = work / "checkout"
    git("worktree", "add", "--detach", str(checkout), commit)
    try:
        url = pgtools.database_recreate(base_url, DATABASE)
        env = drill_ledger.command_environment(url, work / "data", "upgrade-fixture-" + "k" * 40)
        drill_ledger.manage(env, "migrate", root=checkout)
        drill_ledger.ledger_build(env, root=checkout)
        key = drill_ledger.reader_key(env, root=checkout)
        with drill_ledger.web_server(env, work / "web.log", root=checkout) as web:
            answers = drill_ledger.answers(web, key)
        # The server's major version: older pg_restore versions cannot read a newer archive.
        tools = pgtools.binaries_for(pgtools.server_major(url))
        assert tools is not None, "no pg_dump for this server"
        FIXTURE.mkdir(parents=True, exist_ok=True)
        dump = FIXTURE / "previous-release.dump"
        pgtools.run(tools / "pg_dump", "--format=custom", "--compress=9", "--no-owner",
                    "--file", dump, url)  # fmt: skip
        pgtools.database_drop(base_url, DATABASE)
        return {
            "release": commit,
            "pg_dump": pgtools.run(tools / "pg_dump", "--version").strip(),
            "now": drill_ledger.NOW,
            "answers": answers,
        }
    finally:
        git("worktree", "remove", "--force", str(checkout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", default=PREVIOUS_RELEASE, help="Commit or tag.")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    expected = refresh(args.release, base_url)
    (FIXTURE / "previous-release.json").write_text(
        json.dumps(expected, indent=1, sort_keys=True) + "\n"
    )
    size = (FIXTURE / "previous-release.dump").stat().st_size
    print(f"Wrote {FIXTURE}: the dump of {expected['release'][:10]} ({size:,} bytes) and "
          f"{len(expected['answers'])} answers.")  # fmt: skip


if __name__ == "__main__":
    main()
