"""What every ``awu`` command shares: the parser, Django set-up, errors and tables."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

# Exit codes: 1 a failure (the work could not be done), 2 a usage error.
FAILED = 1
USAGE = 2


class CliError(Exception):
    """A failure to report as one line; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line on stderr (``--help`` shows the rest)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def setup_django(*, development: bool = False) -> None:
    """Configure Django once per process, as manage.py does.

    ``development`` makes AWU_ENV default to development, as ``./run up`` does.
    """
    if development:
        os.environ.setdefault("AWU_ENV", "development")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed"


def failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an error a command raised."""
    if isinstance(exc, CliError):
        return exc.code, _one_line(str(exc))
    # Imported here: `awu --help` and usage errors must not need Django.
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import CommandError
    from django.db import DatabaseError, ProgrammingError

    if isinstance(exc, ImproperlyConfigured):
        return FAILED, _one_line(f"configuration: {exc}")
    if isinstance(exc, DatabaseError):
        # A fresh database: the tables come with `awu prepare` (or the first `awu up`).
        hint = " (not migrated yet? `awu prepare` prepares it)"
        missing_table = isinstance(exc, ProgrammingError) and "does not exist" in str(exc)
        return FAILED, _one_line(f"database: {exc}{hint if missing_table else ''}")
    if isinstance(exc, CommandError):
        text = str(exc)
        # call_command reports a bad argument as "Error: ...": a usage error.
        if text.startswith("Error: "):
            return USAGE, _one_line(text.removeprefix("Error: "))
        return exc.returncode or FAILED, _one_line(text)
    if apps.ready:
        from awu.definitions.services import DefinitionError
        from ledger.errors import DomainError, InvalidInput

        if isinstance(exc, InvalidInput):
            fields = "; ".join(
                f"--{name.replace('_', '-')}: {', '.join(reasons)}"
                for name, reasons in exc.errors.items()
            )
            return USAGE, _one_line(fields or exc.detail)
        if isinstance(exc, DomainError):
            return FAILED, _one_line(exc.detail)
        if isinstance(exc, DefinitionError):
            problems = "; ".join(f"{k}: {' / '.join(v)}" for k, v in exc.problems.items())
            return FAILED, _one_line(f"{exc}{': ' + problems if problems else ''}")
    return FAILED, _one_line(f"{type(exc).__name__}: {exc} (--traceback shows where)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat(timespec="seconds"))
    return str(value)


def print_table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, out: Any = None
) -> None:
    """Rows as aligned columns under a header; None shows as "-"; numbers align right."""
    stream = out or sys.stdout
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    # Numeric: every value is a number or missing, and at least one is a number.
    numeric = [
        all(_numeric(r[i]) for r in cells) and any(r[i] != "-" for r in cells)
        for i in range(len(columns))
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    stream.write(line(list(columns)) + "\n")
    for row in cells:
        stream.write(line(row) + "\n")


def _numeric(text: str) -> bool:
    if text == "-":
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True
