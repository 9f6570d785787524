"""``manage.py up``: the whole service on one machine, in the foreground.

Starts (or attaches to) the database, prepares it (``manage.py prepare``: migrations,
the shipped price book and AWU definitions), creates an admin user, an admin API key
and a read-only dashboard user on first run (printed once), seeds the demo company
into an empty embedded ledger (``seed_demo``; ``--no-demo`` or ``AWU_DEMO=0`` skips
it; a DATABASE_URL database gets it only with ``--demo`` or ``AWU_DEMO=1``), then
runs the web server (gunicorn), a Celery worker and Celery beat as child processes
until Ctrl-C, which stops all of them cleanly.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger import access, auth
from ledger.models import ApiKey, WorkEvent

DEMO_USER = "demo"


def demo_wanted(*, force: bool, skip: bool, environ: dict[str, str], ledger_empty: bool) -> bool:
    """Whether ``up`` seeds the demo: forced by --demo; else only into an empty
    ledger, and not with --no-demo or AWU_DEMO=0 (false/no/off). A database named
    by DATABASE_URL is somebody's real ledger: it gets the demo only when asked
    for (--demo, or AWU_DEMO=1); the embedded one gets it by default."""
    if force:
        return True
    choice = environ.get("AWU_DEMO", "").strip().lower()
    if skip or not ledger_empty or choice in {"0", "false", "no", "off"}:
        return False
    return choice in {"1", "true", "yes", "on"} or not environ.get("DATABASE_URL")


class _PhaseTimer:
    """Seconds since the start of ``up``, and per phase of it."""

    def __init__(self) -> None:
        self.started = self._mark = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    def done(self, phase: str) -> None:
        now = time.monotonic()
        self.phases.append((phase, now - self._mark))
        self._mark = now

    def summary(self) -> str:
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases)
        return f"{time.monotonic() - self.started:.1f} s: {parts}"


class Command(BaseCommand):
    help = "Start web, worker and beat on this machine (embedded defaults when no URLs are set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("AWU_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("AWU_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--concurrency", type=int, default=1, help="Worker processes.")
        parser.add_argument(
            "--no-services",
            action="store_true",
            help="Prepare the database and first-run credentials, then exit.",
        )
        demo = parser.add_mutually_exclusive_group()
        demo.add_argument(
            "--demo",
            action="store_true",
            help="Seed the demo company even when the ledger holds events (idempotent).",
        )
        demo.add_argument(
            "--no-demo",
            action="store_true",
            help="Do not seed the demo company into an empty ledger (also: AWU_DEMO=0).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        timer = _PhaseTimer()
        env = self._child_environment()
        self.stdout.write("Preparing the database (manage.py prepare) ...")
        call_command("prepare", stdout=self.stdout, stderr=self.stderr)
        credentials = self._first_run_credentials()
        timer.done("database")
        if demo_wanted(
            force=options["demo"],
            skip=options["no_demo"],
            environ=dict(os.environ),
            ledger_empty=not WorkEvent.objects.exists(),
        ):
            # Before the services start: the worker then scores it as its first job.
            self.stdout.write("Seeding the demo company (seed_demo; --no-demo skips it) ...")
            try:
                call_command("seed_demo", stdout=self.stdout, stderr=self.stderr)
            except CommandError as exc:
                # A demo that did not fully arrive must not keep the service down.
                self.stderr.write(f"The demo company was not fully seeded: {exc}")
            timer.done("demo company")
        if options["no_services"]:
            self._print_banner(options, credentials, timer)
            return
        children = self._start(env, options)
        timer.done("launching web, worker and beat")
        self._print_banner(options, credentials, timer)
        self._supervise(children)

    def _child_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("AWU_ENV", settings.AWU_ENV)
        env["AWU_DATA_DIR"] = str(settings.DATA_DIR)
        if not os.environ.get("DATABASE_URL"):
            from awu.runtime import embedded_database_url

            # Children connect to the server this process started; it lives as long
            # as this process holds its handle.
            env["DATABASE_URL"] = embedded_database_url(settings.DATA_DIR)
        return env

    def _first_run_credentials(self) -> dict[str, str]:
        """An admin user, an admin API key and a dashboard user, made once; returned
        to print once. The dashboard user is not staff: it can read the dashboard
        and nothing in the admin."""
        out: dict[str, str] = {}
        user_model = get_user_model()
        if not user_model.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "admin@localhost", password)
            out["admin user"] = f"admin / {password}"
        # Revoked keys do not count: seed_demo revokes the key it used.
        if not ApiKey.objects.filter(revoked_at__isnull=True).exists():
            _, key = auth.api_key_create(name="first-run admin", scopes=[ApiKey.Scope.ADMIN])
            out["admin API key"] = key
        if not user_model.objects.filter(username=DEMO_USER).exists():
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_user(DEMO_USER, password=password, is_staff=False)
            access.grant(user=user, role=access.VIEWER, reason="the first run's dashboard user")
            out["dashboard user"] = f"{DEMO_USER} / {password}"
        return out

    def _start(self, env: dict[str, str], options: dict[str, Any]) -> list[subprocess.Popen[bytes]]:
        python = sys.executable
        data_dir = Path(settings.DATA_DIR)
        commands = {
            "web": [
                python, "-m", "gunicorn", "awu.wsgi:application",
                "--bind", f"{options['host']}:{options['port']}",
                "--workers", str(options["web_workers"]),
                "--worker-class", "gthread", "--threads", "4",
                "--access-logfile", "-", "--graceful-timeout", "10",
            ],
            "worker": [
                python, "-m", "celery", "-A", "awu", "worker",
                "--concurrency", str(options["concurrency"]), "--loglevel", "INFO",
                "--hostname", f"worker-{os.getpid()}@%h",
            ],
            "beat": [
                python, "-m", "celery", "-A", "awu", "beat", "--loglevel", "INFO",
                "--schedule", str(data_dir / "celerybeat-schedule"),
                "--pidfile", "",
            ],
        }  # fmt: skip
        children = []
        for name, command in commands.items():
            # Each child in its own process group, so Ctrl-C reaches only this
            # supervisor, which then stops the children in order.
            child = subprocess.Popen(command, env=env, process_group=0)  # noqa: S603
            child.name = name  # type: ignore[attr-defined]
            children.append(child)
        return children

    def _print_banner(
        self, options: dict[str, Any], credentials: dict[str, str], timer: _PhaseTimer
    ) -> None:
        base = f"http://{options['host']}:{options['port']}"
        lines = [
            "",
            "AWU Ledger is running." if not options["no_services"] else "AWU Ledger is ready.",
            f"  Dashboard      {base}/",
            f"  Admin          {base}/admin/",
            f"  API docs       {base}/api/docs/",
            f"  OpenAPI schema {base}/api/schema/",
            f"  Health         {base}/healthz  {base}/readyz",
            f"  Database       {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded PostgreSQL in ' + str(settings.DATA_DIR / 'pgdata')}",
            f"  Broker         {'CELERY_BROKER_URL' if os.environ.get('CELERY_BROKER_URL') else 'filesystem queue in ' + str(settings.DATA_DIR / 'broker')}",
        ]
        for label, value in credentials.items():
            lines.append(f"  {label:<14} {value}   (shown once: keep it)")
        # What the number covers is said here: readers compare it with the time they waited.
        lines += [
            f"Ready in {timer.summary()}",
            "  (counted from when manage.py up began its work; not counted: ./run's package",
            "  install and the start of Django and the embedded database before it).",
        ]
        if not options["no_services"]:
            lines.append("Ctrl-C stops everything.")
        self.stdout.write("\n".join(lines) + "\n")
        self.stdout.flush()

    def _supervise(self, children: list[subprocess.Popen[bytes]]) -> None:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failed = None
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    failed = child
                    stopping = True
                    break
            time.sleep(0.5)
        self.stdout.write("Stopping ...")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if failed is not None:
            raise CommandError(
                f"{failed.name} exited with code {failed.returncode}; everything was stopped."  # type: ignore[attr-defined]
            )
        self.stdout.write("Stopped.")
