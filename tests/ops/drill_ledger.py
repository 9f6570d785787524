"""A small, complete ledger made through the operator commands, and the report
questions asked of it over HTTP.

The restore drill (test_restore_drill.py) builds it with this checkout; the
upgrade fixture (upgrade_fixture.py) builds it with the previous release's code.
So it only runs the stable operator commands of DESIGN.md (and one price
correction through ``manage.py shell``) as child processes in the checkout given,
and only reads the REST API: never this checkout's internals.

The ledger: the demo company (people, teams, identities, events through the API
and signed webhooks, token usage, OTLP sessions), scored into units and entries,
a price correction appended as cost adjustments, a rescore of durable-change into
a new version, and the report rollups refreshed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T12:00:00Z"
DEMO = ("--people", "24", "--days", "30", "--seed", "7", "--workers", "1", "--no-progress")
# The reports' period ends the day before NOW: the restore drill posts its waiting work
# on NOW's day.
PERIOD = {"from": "2026-10-20", "to": "2026-11-22"}
# The price of claude-sonnet-4-5 input is found to have been $3.30/M from Nov 10.
CORRECTION = ("anthropic", "claude-sonnet-4-5", "2026-11-10", "2026-11-23")
_CORRECT_PRICE = """
from datetime import UTC, datetime
from decimal import Decimal
from ledger.models import ModelPrice
start = datetime(2026, 11, 10, tzinfo=UTC)
old = ModelPrice.objects.get(provider="anthropic", model="claude-sonnet-4-5", effective_to=None)
old.effective_to = start
old.save()
old.pk, old.effective_from, old.effective_to, old.input = None, start, None, Decimal("3.30")
old.save()
"""

# Every report the dashboard and the API answer, each as one request.
QUESTIONS: tuple[str, ...] = tuple(
    f"{path}?{urlencode({**PERIOD, **params})}"
    for path, params in [
        ("/api/v1/reports/efficiency", {"group_by": "team"}),
        ("/api/v1/reports/efficiency", {"group_by": "person"}),
        ("/api/v1/reports/efficiency", {"group_by": "domain"}),
        ("/api/v1/reports/efficiency", {"group_by": "model"}),
        ("/api/v1/reports/efficiency", {"group_by": "team", "basis": "completed"}),
        ("/api/v1/reports/spend-deciles", {}),
        ("/api/v1/reports/spend-deciles", {"by": "team"}),
        ("/api/v1/reports/trend", {}),
        ("/api/v1/work-units", {"limit": "200"}),
        ("/api/v1/work-units", {"state": "voided", "limit": "200"}),
    ]
)


def manage(env: dict[str, str], *args: str, root: Path = ROOT) -> str:
    """Run ``manage.py ARGS`` in checkout ``root``; its stdout (raises with stderr)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def command_environment(database_url: str, data_dir: Path, secret_key: str) -> dict[str, str]:
    """The environment of the commands and processes run on the ledger."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CELERY_BROKER_URL", "AWU_QUEUE", "PYTHONPATH"}
    }
    env.update(
        DATABASE_URL=database_url,
        AWU_ENV="test",
        AWU_NOW=NOW,
        AWU_DATA_DIR=str(data_dir),
        SECRET_KEY=secret_key,
        DJANGO_SETTINGS_MODULE="awu.settings",
        DB_CONN_MAX_AGE="0",
    )
    return env


_NO_APPROVAL = (
    "from awu.definitions.approvals import policy_set; "
    "policy_set(domain='engineering', required=False, preview_days=30, reason='drill')"
)


def ledger_build(env: dict[str, str], *, root: Path = ROOT) -> None:
    """Build the ledger on the (migrated) database of ``env``."""
    manage(env, "prepare", root=root)
    manage(env, "seed_demo", *DEMO, "--score", root=root)
    manage(env, "shell", "-c", _CORRECT_PRICE, root=root)
    provider, model, start, stop = CORRECTION
    manage(env, "reprice", "--provider", provider, "--model", model,
           "--from", start, "--to", stop, "--apply", root=root)  # fmt: skip
    # The drill is the operator of its own throwaway install: no second pair of eyes.
    manage(env, "shell", "-c", _NO_APPROVAL, root=root)
    manage(env, "rescore", "durable-change", "--from", "2026-11-01", root=root)
    manage(env, "score_now", root=root)
    manage(env, "refresh_rollups", root=root)


def reader_key(env: dict[str, str], *, root: Path = ROOT) -> str:
    """A new ``reports:read`` key (the command prints it alone on its last line)."""
    return manage(env, "create_api_key", "drill", "--scope", "reports:read", root=root).split()[-1]


@contextlib.contextmanager
def web_server(env: dict[str, str], log: Path, *, root: Path = ROOT) -> Iterator[str]:
    """gunicorn on checkout ``root`` (its code, not this one's); yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "awu.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"],
            cwd=root, env={**env, "PYTHONPATH": str(root)}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the web server did not start:\n{log.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(10)


def answers(base_url: str, key: str, questions: Iterable[str] = QUESTIONS) -> dict[str, str]:
    """question -> the body the API answered, exactly as sent."""
    found = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as client:
        for question in questions:
            response = client.get(question, timeout=60)
            assert response.status_code == 200, (question, response.text)
            found[question] = response.text
    return found
